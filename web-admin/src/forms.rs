//! Reading forms: URL-encoded fields into a map, and multipart forms (with one uploaded file).

use std::collections::HashMap;

use actix_multipart::Multipart;
use futures::StreamExt;

use crate::error::AdminError;

/// The most bytes an uploaded image may have (WeChat's `media/uploadimg` takes up to 1 MB).
pub const MAX_IMAGE_BYTES: usize = 1024 * 1024;

/// An uploaded file.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The form field.
    pub field: String,
    /// The browser's file name.
    pub file_name: String,
    /// Its declared type.
    pub content_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The fields of a form, by name (the last value wins; checkboxes are present or absent).
#[derive(Debug, Clone, Default)]
pub struct Fields {
    values: HashMap<String, String>,
    /// Uploaded files (empty file inputs are dropped).
    pub uploads: Vec<Upload>,
    /// A file over [`MAX_IMAGE_BYTES`] was sent in this field.
    pub oversized: Option<String>,
}

impl Fields {
    /// From URL-encoded pairs.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self {
            values: pairs.into_iter().collect(),
            ..Self::default()
        }
    }

    /// The trimmed value of a field ("" when absent).
    pub fn get(&self, name: &str) -> String {
        self.values
            .get(name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    }

    /// The raw value of a field (for passwords and multi-line texts).
    pub fn raw(&self, name: &str) -> String {
        self.values.get(name).cloned().unwrap_or_default()
    }

    /// Whether a checkbox was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Sets a value (e.g. a logo URL after its upload).
    pub fn set(&mut self, name: &str, value: String) {
        self.values.insert(name.to_owned(), value);
    }

    /// The uploaded file of a field.
    pub fn upload(&self, field: &str) -> Option<&Upload> {
        self.uploads.iter().find(|u| u.field == field)
    }
}

/// Reads a multipart form; text fields over 64 KiB and files over [`MAX_IMAGE_BYTES`] are cut off.
pub async fn read_multipart(mut payload: Multipart) -> Result<Fields, AdminError> {
    let mut fields = Fields::default();
    while let Some(item) = payload.next().await {
        let mut field = item.map_err(|e| AdminError::BadRequest(e.to_string()))?;
        let disposition = field.content_disposition().cloned();
        let name = disposition
            .as_ref()
            .and_then(|d| d.get_name())
            .unwrap_or_default()
            .to_owned();
        let file_name = disposition
            .as_ref()
            .and_then(|d| d.get_filename())
            .map(str::to_owned);
        let content_type = field
            .content_type()
            .map_or_else(|| "application/octet-stream".to_owned(), |m| m.to_string());
        let limit = if file_name.is_some() {
            MAX_IMAGE_BYTES
        } else {
            64 * 1024
        };
        let mut bytes = Vec::new();
        let mut too_big = false;
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| AdminError::BadRequest(e.to_string()))?;
            if bytes.len() + chunk.len() > limit {
                too_big = true;
            } else {
                bytes.extend_from_slice(&chunk);
            }
        }
        match file_name {
            Some(file_name) => {
                if too_big {
                    fields.oversized = Some(name);
                } else if !bytes.is_empty() {
                    fields.uploads.push(Upload {
                        field: name,
                        file_name,
                        content_type,
                        bytes,
                    });
                }
            }
            None => {
                fields
                    .values
                    .insert(name, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    Ok(fields)
}
