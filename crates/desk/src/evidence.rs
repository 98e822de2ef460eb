//! A case's evidence at the desk: files uploaded from the browser in chunks
//! (`upload.js`: several GiB, several chunks in flight, a progress bar;
//! after a cut connection only the ranges the node reports missing are
//! sent again), sealed for the case's
//! counterpart and sent; the case's packages with their verification status
//! and custody history; a received package opened, and its files
//! downloaded (streamed; each download recorded under the person's name).
//! Every handler calls one method of the node.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use custos_node::app::evidence::{SealMarks, TransferView};
use custos_node::app::{CaseEvidenceView, CasePackage, Download, Operation, UploadView};
use custos_node::{Node, NodeError};
use custos_protocol::case_bodies::PersonalData;
use maud::{Markup, html};
use serde::Deserialize;

use crate::error::DeskError;
use crate::guard::CSRF_FIELD;
use crate::i18n::{Lang, t};
use crate::layout;
use crate::session::Desk;

/// A case's evidence page.
pub const PAGE: &str = "/desk/cases/{id}/evidence";
/// Starts an upload (from `upload.js`).
pub const UPLOADS: &str = "/desk/cases/{id}/evidence/uploads";
/// An upload's status (GET) and its chunks (PUT `?offset=`).
pub const UPLOAD: &str = "/desk/uploads/{upload}";
/// Seals uploads (a form).
pub const SEAL: &str = "/desk/cases/{id}/evidence/seal";
/// Sends a sealed package (a form).
pub const SEND: &str = "/desk/cases/{id}/evidence/{package}/send";
/// Opens a received package (a form).
pub const OPEN: &str = "/desk/cases/{id}/evidence/{package}/open";
/// Downloads an opened file (`?path=`).
pub const FILE: &str = "/desk/cases/{id}/evidence/{package}/file";

/// The largest chunk the browser sends in one request.
pub const MAX_CHUNK_BYTES: usize = custos_node::app::evidence_upload::MAX_CHUNK_BYTES;

/// The path of case `case`'s evidence page.
pub fn page_path(case: &str) -> String {
    format!("/desk/cases/{}/evidence", enc(case))
}

/// A path segment or query value, percent-encoded.
fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn hex_of(package_id: &str) -> &str {
    package_id.strip_prefix("sha256:").unwrap_or(package_id)
}

/// The evidence page of case `id`.
pub async fn page(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Path(id): Path<String>,
) -> Result<Markup, DeskError> {
    let view = node.case_evidence(&desk.actor, &id).await?;
    let title = t(desk.lang, "evidence-title");
    Ok(layout::page(
        &desk,
        &page_path(&id),
        &title,
        render(&desk, &view, &title),
    ))
}

fn render(desk: &Desk, v: &CaseEvidenceView, title: &str) -> Markup {
    let lang = desk.lang;
    let base = page_path(&v.case);
    html! {
        h1 { (title) }
        p.case-ref { (t(lang, "evidence-case")) " " code { (v.case) } " · " (t(lang, "evidence-counterpart")) " " (v.counterpart.as_str()) }
        @if desk.may(Operation::ReadCase) {
            p.links {
                a #evidence-case-link href=(format!("/desk/cases/{}", enc(&v.case))) { (t(lang, "evidence-back-to-case")) }
            }
        }
        @if desk.may(Operation::SealEvidence) {
            section #evidence-upload-section .evidence
                data-start=(format!("{base}/uploads"))
                data-status="/desk/uploads/"
                data-msg-done=(t(lang, "evidence-upload-done"))
                data-msg-resuming=(t(lang, "evidence-upload-resuming"))
                data-msg-failed=(t(lang, "evidence-upload-failed"))
                data-msg-sending=(t(lang, "evidence-upload-sending")) {
                h2 { (t(lang, "evidence-upload-heading")) }
                label for="evidence-file" { (t(lang, "evidence-file-label")) }
                input #evidence-file type="file" multiple aria-describedby="evidence-status";
                button #evidence-upload type="button" { (t(lang, "evidence-upload-button")) }
                progress #evidence-progress max="100" value="0" aria-label=(t(lang, "evidence-progress-label")) {}
                output #evidence-status aria-live="polite" {}
            }
            @if !v.uploads.is_empty() {
                section.evidence {
                    h2 { (t(lang, "evidence-uploads-heading")) }
                    form.seal method="post" action=(format!("{base}/seal")) {
                        input type="hidden" name=(CSRF_FIELD) value=(desk.csrf);
                        table.uploads {
                            thead { tr {
                                th scope="col" { (t(lang, "evidence-seal-choose")) }
                                th scope="col" { (t(lang, "evidence-file-name")) }
                                th scope="col" { (t(lang, "evidence-bytes")) }
                            } }
                            tbody {
                                @for u in &v.uploads { (upload_row(lang, u)) }
                            }
                        }
                        (marks_fields(lang))
                        button type="submit" { (t(lang, "evidence-seal-button")) }
                    }
                }
            }
        }
        section.evidence {
            h2 { (t(lang, "evidence-sealed-heading")) }
            @if v.sealed.is_empty() { p.empty { (t(lang, "evidence-none")) } }
            @for p in &v.sealed { (package(desk, &base, p, true)) }
        }
        section.evidence {
            h2 { (t(lang, "evidence-received-heading")) }
            @if v.received.is_empty() { p.empty { (t(lang, "evidence-none")) } }
            @for p in &v.received { (package(desk, &base, p, false)) }
        }
    }
}

/// What the sealing State may add to the package: a confidentiality mark,
/// conditions on use, the personal data in it and its conditions (lists
/// one item per line).
fn marks_fields(lang: Lang) -> Markup {
    // A list, one item per line: the field `name`, its element id
    // `seal-` and the name in kebab case.
    let area = |name: &str, key: &str| {
        let id = format!("seal-{}", name.replace('_', "-"));
        html! {
            label for=(id) { (t(lang, key)) }
            textarea id=(id) name=(name) rows="2" aria-describedby="seal-marks-lines" {}
        }
    };
    html! {
        fieldset.marks {
            legend { (t(lang, "evidence-marks-legend")) }
            small #seal-marks-lines { (t(lang, "evidence-marks-lines")) }
            div {
                input #seal-confidential type="checkbox" name="confidential" value="yes";
                label for="seal-confidential" { (t(lang, "field-confidential-required")) }
            }
            label for="seal-confidential-reasons" { (t(lang, "field-confidential-reasons")) }
            textarea #seal-confidential-reasons name="confidential_reasons" rows="2" {}
            (area("conditions", "field-use-conditions"))
            (area("personal_data_categories", "field-personal-data-categories"))
            (area("personal_data_conditions", "field-personal-data-conditions"))
            label for="seal-delete-by" { (t(lang, "field-personal-data-delete-by")) }
            input #seal-delete-by type="date" name="personal_data_delete_by";
        }
    }
}

/// The marks a seal form gives: the node checks them.
fn marks_of(form: &[(String, String)]) -> Result<SealMarks, DeskError> {
    let value = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .unwrap_or_default()
    };
    let lines = |name: &str| -> Vec<String> {
        value(name)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let delete_by =
        layout::day(Some(value("personal_data_delete_by"))).map_err(|message| DeskError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid-evidence-input",
            message,
        })?;
    Ok(SealMarks::new(
        (!value("confidential").is_empty()).then(|| value("confidential_reasons").to_owned()),
        lines("conditions"),
        PersonalData {
            categories: lines("personal_data_categories"),
            conditions: lines("personal_data_conditions"),
            delete_by,
        },
    ))
}

fn upload_row(lang: Lang, u: &UploadView) -> Markup {
    let field = format!("upload-{}", u.id);
    html! {
        tr {
            td {
                input type="checkbox" name="upload" value=(u.id) id=(field)
                    checked[u.complete] disabled[!u.complete];
            }
            td { label for=(field) { (u.name) } }
            td {
                (u.received) " / " (u.size)
                @if !u.complete { " · " (t(lang, "evidence-upload-unfinished")) }
            }
        }
    }
}

fn yes_no(lang: Lang, ok: bool) -> String {
    t(lang, if ok { "evidence-yes" } else { "evidence-no" })
}

fn package(desk: &Desk, base: &str, p: &CasePackage, sealed_here: bool) -> Markup {
    let lang = desk.lang;
    let hex = hex_of(&p.package_id);
    html! {
        article.package data-package=(hex) {
            h3 { code { (p.package_id.get(..19).unwrap_or(&p.package_id)) "…" } }
            dl {
                dt { (t(lang, "evidence-sender")) } dd { (p.sender.as_str()) }
                dt { (t(lang, "evidence-files")) } dd { (p.files) " · " (p.bytes) " " (t(lang, "evidence-bytes")) }
                dt { (t(lang, "evidence-created")) } dd { time datetime=(layout::rfc3339(p.created_at)) { (layout::rfc3339(p.created_at)) } }
                dt { (t(lang, "evidence-signature")) }
                dd.signature.(if p.signature_verified { "ok" } else { "failed" }) {
                    (t(lang, if p.signature_verified { "evidence-signature-ok" } else { "evidence-signature-failed" }))
                }
                dt { (t(lang, "evidence-complete")) } dd { (yes_no(lang, p.complete)) }
                dt { (t(lang, "evidence-checked")) }
                dd.checked {
                    @match p.checked_ok {
                        Some(true) => (t(lang, "evidence-checked-ok")),
                        Some(false) => (t(lang, "evidence-checked-failed")),
                        None => (t(lang, "evidence-checked-never")),
                    }
                }
                @if sealed_here {
                    dt { (t(lang, "evidence-receipted-by")) }
                    dd.receipted { @for cc in &p.receipted_by { (cc.as_str()) " " } }
                }
            }
            @if sealed_here && desk.may(Operation::SendEvidence) {
                form.send method="post" action=(format!("{base}/{hex}/send")) {
                    input type="hidden" name=(CSRF_FIELD) value=(desk.csrf);
                    button type="submit" { (t(lang, "evidence-send-button")) }
                }
            }
            @if !sealed_here && p.opened_files.is_empty() && desk.may(Operation::OpenEvidence) {
                form.open method="post" action=(format!("{base}/{hex}/open")) {
                    input type="hidden" name=(CSRF_FIELD) value=(desk.csrf);
                    button type="submit" { (t(lang, "evidence-open-button")) }
                }
            }
            @if !p.opened_files.is_empty() {
                h4 { (t(lang, "evidence-opened-heading")) }
                ul.opened {
                    @for f in &p.opened_files {
                        li {
                            a.download href=(format!("{base}/{hex}/file?path={}", enc(&f.path))) download {
                                (f.path)
                            }
                            " · " (f.bytes) " " (t(lang, "evidence-bytes"))
                        }
                    }
                }
            }
            details.custody {
                summary { (t(lang, "evidence-custody")) }
                ol {
                    @for e in &p.custody {
                        li { time { (e.at) } " · " code { (e.kind) } " · " (e.actor) }
                    }
                }
            }
        }
    }
}

/// What `upload.js` posts to start an upload.
#[derive(Debug, Deserialize)]
pub struct StartForm {
    pub name: String,
    pub size: u64,
}

/// Starts an upload; answers its status as JSON.
pub async fn start(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<StartForm>,
) -> Result<Json<UploadView>, JsonError> {
    Ok(Json(
        node.start_upload(&desk.actor, &id, &form.name, form.size)
            .await?,
    ))
}

/// An upload's status as JSON.
pub async fn status(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Path(upload): Path<String>,
) -> Result<Json<UploadView>, JsonError> {
    Ok(Json(node.upload_status(&desk.actor, &upload).await?))
}

/// Where a chunk goes.
#[derive(Debug, Deserialize)]
pub struct ChunkQuery {
    pub offset: u64,
}

/// One chunk of an upload; answers the status as JSON.
pub async fn chunk(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Path(upload): Path<String>,
    Query(q): Query<ChunkQuery>,
    body: Bytes,
) -> Result<Json<UploadView>, JsonError> {
    Ok(Json(
        node.upload_chunk(&desk.actor, &upload, q.offset, body)
            .await?,
    ))
}

/// Seals the uploads ticked in the form, then shows the page again.
pub async fn seal(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Redirect, DeskError> {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let uploads: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "upload")
        .map(|(_, v)| v.clone())
        .collect();
    let marks = marks_of(&form)?;
    node.seal_uploads(&desk.actor, &id, &uploads, &marks)
        .await?;
    Ok(Redirect::to(&page_path(&id)))
}

/// Sends a sealed package; a refusal by a recipient is shown as an error.
pub async fn send(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Path((id, package)): Path<(String, String)>,
) -> Result<Redirect, DeskError> {
    let views = node.send_case_package(&desk.actor, &id, &package).await?;
    let failed: Vec<String> = views
        .iter()
        .filter_map(|v| match v {
            TransferView::Failed(f) => Some(format!("{}: {}", f.to.as_str(), f.error)),
            TransferView::Accepted(_) => None,
        })
        .collect();
    if !failed.is_empty() {
        return Err(DeskError {
            status: StatusCode::BAD_GATEWAY,
            code: "not-accepted",
            message: failed.join("; "),
        });
    }
    Ok(Redirect::to(&page_path(&id)))
}

/// Opens a received package on the node, then shows the page again.
pub async fn open(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Path((id, package)): Path<(String, String)>,
) -> Result<Redirect, DeskError> {
    node.open_case_package(&desk.actor, &id, &package).await?;
    Ok(Redirect::to(&page_path(&id)))
}

/// Which opened file.
#[derive(Debug, Deserialize)]
pub struct FileQuery {
    pub path: String,
}

/// Downloads an opened file, streamed; the node records the download.
pub async fn file(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Path((id, package)): Path<(String, String)>,
    Query(q): Query<FileQuery>,
) -> Result<Response, DeskError> {
    let download = node
        .download_opened_file(&desk.actor, &id, &package, &q.path)
        .await?;
    Ok(stream_file(download).await?)
}

/// An upload call's failure, as JSON for `upload.js`: the stable code and
/// the message (the script asks the status again and sends what is missing).
#[derive(Debug)]
pub struct JsonError(DeskError);

impl From<NodeError> for JsonError {
    fn from(e: NodeError) -> Self {
        JsonError(DeskError::from(e))
    }
}

impl IntoResponse for JsonError {
    fn into_response(self) -> Response {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            code: &'a str,
            message: &'a str,
        }
        (
            self.0.status,
            Json(Body {
                code: self.0.code,
                message: &self.0.message,
            }),
        )
            .into_response()
    }
}

/// Streams an opened file as an attachment, a piece at a time (never held
/// whole in memory). The client API serves downloads with it too.
pub async fn stream_file(download: Download) -> Result<Response, NodeError> {
    let file = tokio::fs::File::open(&download.path)
        .await
        .map_err(|e| NodeError::Io {
            path: download.path.display().to_string(),
            problem: e.to_string(),
        })?;
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt as _;
        let mut buf = vec![0u8; 256 << 10];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let mut response = Body::from_stream(stream).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&download.bytes.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&download.name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// `attachment; filename*=UTF-8''<name, percent-encoded>`.
pub fn content_disposition(name: &str) -> String {
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename*=UTF-8''{encoded}")
}
