//! The log of a serving node: readable lines or JSON objects, on standard error.
//!
//! `CUSTOS_LOG` filters (tracing's `EnvFilter` syntax, `info` when unset);
//! `--log-format` or `CUSTOS_LOG_FORMAT` picks the form. The JSON form
//! writes one object per line with the event's fields at the top level, for
//! a log collector (journald, Loki, Elasticsearch) to index.

/// The form of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Readable lines (colours on a terminal).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the process's log subscriber; a second call changes nothing.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUSTOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}
