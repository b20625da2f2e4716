//! `/api/vanishing`: the lesson's Example 3, a chain of one-unit layers
//! (`chainrule diagnose --chain N`), plain, residual or with batch norm,
//! measured by `chainrule_inspect::flow::chain_of`: how much gradient
//! reaches each unit, and each layer's verdict.

use super::error::ApiError;
use super::query;
use axum::extract::RawQuery;
use axum::Json;
use chainrule_inspect::flow::{chain_of, ChainKind};
use chainrule_nn::Activation;
use serde_json::Value;

/// The query parameters of `/vanishing` and `/api/vanishing`.
pub const KEYS: [&str; 4] = ["depth", "activation", "kind", "output"];
/// The deepest chain the page draws.
pub const MAX_DEPTH: usize = 60;

pub async fn api(RawQuery(raw): RawQuery) -> Result<Json<Value>, ApiError> {
    let p = query::parse(raw.as_deref().unwrap_or(""), &KEYS)?;
    let depth = match p.get("depth") {
        None => 10,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|d| (1..=MAX_DEPTH).contains(d))
            .ok_or_else(|| {
                ApiError::bad(
                    "depth",
                    format!("'{s}' is not a depth from 1 to {MAX_DEPTH}"),
                )
            })?,
    };
    let activation = Activation::parse(p.get("activation").unwrap_or("sigmoid"))?;
    let kind = match p.get("kind").unwrap_or("plain") {
        "plain" => ChainKind::Plain,
        "residual" => ChainKind::Residual,
        "batchnorm" => ChainKind::BatchNorm,
        other => {
            return Err(ApiError::bad(
                "kind",
                format!("'{other}' is not plain, residual or batchnorm"),
            ))
        }
    };
    let output = match p.get("output") {
        None => 0.9,
        Some(s) => s
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| ApiError::bad("output", format!("'{s}' is not a number")))?,
    };
    let report = tokio::task::spawn_blocking(move || chain_of(kind, depth, output, activation))
        .await
        .map_err(|e| ApiError::bad("depth", e.to_string()))??;
    Ok(Json(report.to_json()))
}
