//! The frame of every desk page: the document head (language, direction,
//! the desk's own style sheet and scripts), the navigation the person's
//! roles allow, the language menu, and the live region where an arriving
//! emergency is announced.

use custos_node::app::Operation;
use maud::{DOCTYPE, Markup, html};

use crate::assets;
use crate::guard::CSRF_FIELD;
use crate::i18n::{Lang, t};
use crate::session::Desk;

/// One entry of the navigation: its path, message key, and the operation
/// whose grant decides whether the person sees it.
#[derive(Debug)]
pub struct NavItem {
    pub path: &'static str,
    pub key: &'static str,
    pub op: Operation,
}

/// The navigation, in order. A page added to the desk adds its entry here.
pub const NAV: &[NavItem] = &[
    NavItem {
        path: crate::PREFIX,
        key: "nav-inbox",
        op: Operation::ListCases,
    },
    // The case pages: composing a request and the saved drafts.
    NavItem {
        path: crate::compose::COMPOSE,
        key: "nav-compose",
        op: Operation::SendRequest,
    },
    NavItem {
        path: crate::compose::DRAFTS,
        key: "nav-drafts",
        op: Operation::SaveDraft,
    },
    // Oversight and administration.
    NavItem {
        path: crate::oversight::LEDGER,
        key: "nav-ledger",
        op: Operation::ReadLedger,
    },
    NavItem {
        path: crate::oversight::STATISTICS,
        key: "nav-statistics",
        op: Operation::ReadOversightStatistics,
    },
    NavItem {
        path: crate::oversight::AUDIT,
        key: "nav-audit",
        op: Operation::ReadAudit,
    },
    NavItem {
        path: crate::oversight::PERSONAL_DATA,
        key: "nav-personal-data",
        op: Operation::ListPersonalData,
    },
    NavItem {
        path: crate::users::USERS,
        key: "nav-users",
        op: Operation::ListUsers,
    },
    NavItem {
        path: crate::rota::ROTA,
        key: "nav-rota",
        op: Operation::ReadRota,
    },
    NavItem {
        path: crate::rota::ALERTS,
        key: "nav-alerts",
        op: Operation::ReadAlerts,
    },
];

/// A whole page for a signed-in person: `title` (already translated) and
/// its `main` content; `current` is the path of the navigation entry to mark.
pub fn page(desk: &Desk, current: &str, title: &str, main: Markup) -> Markup {
    let lang = desk.lang;
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) dir=(lang.dir()) {
        (head(lang, title))
        body hx-headers=(format!(r#"{{"X-CSRF-Token": "{}"}}"#, desk.csrf)) {
            a.skip href="#main" { (t(lang, "skip-to-content")) }
            header.top {
                span.brand { (t(lang, "app-name")) }
                nav aria-label=(t(lang, "nav-label")) {
                    ul {
                        @for item in NAV.iter().filter(|i| desk.may(i.op)) {
                            li {
                                a href=(item.path)
                                  aria-current=[(item.path == current).then_some("page")] {
                                    (t(lang, item.key))
                                }
                            }
                        }
                    }
                }
                (crate::signin::language_menu(lang, current, Some(&desk.csrf)))
                span.who { (desk.user) }
                form.inline method="post" action=(crate::signin::SIGN_OUT) {
                    input type="hidden" name=(CSRF_FIELD) value=(desk.csrf);
                    button type="submit" { (t(lang, "sign-out")) }
                }
            }
            // The emergencies awaiting acknowledgement, on every page.
            @if desk.may(Operation::ListCases) {
                div #alerts role="alert" aria-live="assertive"
                    hx-get=(crate::inbox::EMERGENCIES) hx-trigger="load, every 5s" hx-swap="innerHTML" {}
            } @else {
                div #alerts role="alert" aria-live="assertive" {}
            }
            main #main tabindex="-1" { (main) }
        }
        }
    }
}

/// A page for someone not signed in (the sign-in page, an error).
pub fn bare_page(lang: Lang, title: &str, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) dir=(lang.dir()) {
            (head(lang, title))
            body {
                header.top { span.brand { (t(lang, "app-name")) } }
                main #main { (main) }
            }
        }
    }
}

fn head(lang: Lang, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            // htmx must not inject its own inline style (the CSP forbids it).
            meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}"#;
            title { (title) " · " (t(lang, "app-name")) }
            link rel="stylesheet" href=(assets::url("desk.css"));
            script src=(assets::url("htmx.min.js")) defer {}
            script src=(assets::url("desk.js")) defer {}
            script src=(assets::url("upload.js")) defer {}
        }
    }
}

/// An instant as RFC 3339, for `datetime` attributes.
/// A date a form or query gives (`YYYY-MM-DD`; blank: none), or the
/// problem to show.
pub fn day(text: Option<&str>) -> Result<Option<time::Date>, String> {
    match text.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
            .map(Some)
            .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)")),
    }
}

pub fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
