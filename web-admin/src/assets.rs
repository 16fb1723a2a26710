//! Static files, compiled into the binary: ours from `static/`, third-party ones from `vendor/` (each
//! with its licence next to it).

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::error::AdminError;

const STATIC_FILES: &[(&str, &str, &[u8])] = &[
    (
        "admin.css",
        "text/css; charset=utf-8",
        include_bytes!("../static/admin.css"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/admin.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../static/favicon.svg"),
    ),
];

const VENDOR_FILES: &[(&str, &str, &[u8])] = &[(
    "README.md",
    "text/plain; charset=utf-8",
    include_bytes!("../vendor/README.md"),
)];

fn serve(files: &[(&str, &str, &'static [u8])], name: &str) -> Result<HttpResponse, AdminError> {
    let (_, content_type, bytes) = files
        .iter()
        .find(|(file, _, _)| *file == name)
        .ok_or(AdminError::NotFound)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, *content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(*bytes))
}

/// `GET /admin/static/{file}`.
pub async fn serve_static(file: web::Path<String>) -> Result<HttpResponse, AdminError> {
    serve(STATIC_FILES, &file)
}

/// `GET /admin/vendor/{file}`.
pub async fn serve_vendor(file: web::Path<String>) -> Result<HttpResponse, AdminError> {
    serve(VENDOR_FILES, &file)
}
