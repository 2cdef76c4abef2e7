//! Keyset pagination, the same on every list: the `limit` and `cursor` query parameters
//! ([`PageLimit`], [`PageCursor`]), parsed, checked and documented here once, and the
//! `pagination` object of every page ([`Pagination`]).
//!
//! ```ignore
//! async fn transactions(&self, limit: PageLimit, cursor: PageCursor, ...) -> ... {
//!     let before = cursor.decode(|text| text.parse::<i64>().ok().filter(|n| *n > 0))?;
//!     let rows = read::transactions(&pool, before, limit.get()).await?;
//!     let pagination = Pagination::of(&limit, &rows, |row| row.sequence.to_string());
//! ```
//!
//! A `limit` outside 1–100 or that is not a number, and a cursor that the list did not issue,
//! are 400 `invalid_request` naming the parameter (field codes `out_of_range`, `invalid_type`,
//! `invalid`). Arguments named `limit` and `cursor` give the parameters their names; their
//! descriptions are written once, in [`crate::contract`].

use crate::problem::{FieldProblem, Problem, field_codes};
use poem::{Request, RequestBody};
use poem_openapi::param::Query;
use poem_openapi::registry::{MetaParamIn, MetaSchema, MetaSchemaRef};
use poem_openapi::types::Example;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, Object};
use serde_json::Value;

/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: i64 = 20;
/// The largest page.
pub const MAX_LIMIT: i64 = 100;

/// The `limit` query parameter: 1 to 100, default 20.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(i64);

impl PageLimit {
    pub fn get(self) -> i64 {
        self.0
    }

    /// Parses the parameter's text; absent is the default.
    pub fn parse(text: Option<&str>) -> Result<Self, Problem> {
        let Some(text) = text else { return Ok(Self(DEFAULT_LIMIT)) };
        let invalid = |code: &str, message: &str| {
            Problem::invalid_request(format!("`limit` is a page size from 1 to {MAX_LIMIT}"))
                .with_errors([FieldProblem::new("limit", code, message)])
        };
        let limit: i64 =
            text.trim().parse().map_err(|_| invalid(field_codes::INVALID_TYPE, "must be an integer"))?;
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid(field_codes::OUT_OF_RANGE, "must be from 1 to 100"));
        }
        Ok(Self(limit))
    }
}

/// The `cursor` query parameter: the `nextCursor` of the previous page, as the list issued it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageCursor(Option<String>);

impl PageCursor {
    /// The cursor decoded by the list's own `decode`; `None` for the first page, 400 when the
    /// list did not issue it.
    pub fn decode<T>(&self, decode: impl FnOnce(&str) -> Option<T>) -> Result<Option<T>, Problem> {
        let Some(text) = &self.0 else { return Ok(None) };
        decode(text).map(Some).ok_or_else(|| {
            Problem::invalid_request("`cursor` is not a cursor of this list").with_errors([
                FieldProblem::new(
                    "cursor",
                    field_codes::INVALID,
                    "must be the nextCursor of the previous page of this list",
                ),
            ])
        })
    }
}

/// The text of a query parameter named `name`.
async fn query_text(
    request: &Request,
    body: &mut RequestBody,
    name: &'static str,
) -> poem::Result<Option<String>> {
    let options = ExtractParamOptions {
        name,
        ignore_case: false,
        default_value: None,
        example_value: None,
        explode: true,
        style: None,
    };
    Ok(<Query<Option<String>> as ApiExtractor>::from_request(request, body, options).await?.0)
}

impl<'a> ApiExtractor<'a> for PageLimit {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::Parameter];
    type ParamType = i64;
    type ParamRawType = i64;

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Query)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(MetaSchemaRef::Inline(Box::new(MetaSchema {
            minimum: Some(1.0),
            maximum: Some(MAX_LIMIT as f64),
            default: Some(Value::from(DEFAULT_LIMIT)),
            example: Some(Value::from(DEFAULT_LIMIT)),
            ..MetaSchema::new_with_format("integer", "int64")
        })))
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let text = query_text(request, body, param_opts.name).await?;
        Ok(Self::parse(text.as_deref())?)
    }
}

impl<'a> ApiExtractor<'a> for PageCursor {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::Parameter];
    type ParamType = String;
    type ParamRawType = String;

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Query)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(MetaSchemaRef::Inline(Box::new(MetaSchema {
            example: Some(Value::from("1742")),
            ..MetaSchema::new("string")
        })))
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        // An empty `cursor=` is not a cursor any list issued: refused by `decode`, not ignored.
        Ok(Self(query_text(request, body, param_opts.name).await?))
    }
}

/// Keyset pagination of a list.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct Pagination {
    /// The page size asked for (or the default).
    pub limit: i64,
    /// Pass as `cursor` for the next page; `null` on the last page.
    // Always present, `null` on the last page, and documented so: clients test it against null.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl Pagination {
    /// The pagination of a page of `rows`: a next cursor (the last row's) when the page is full.
    pub fn of<R>(limit: PageLimit, rows: &[R], cursor: impl FnOnce(&R) -> String) -> Self {
        let full = rows.len() as i64 == limit.get();
        Self { limit: limit.get(), next_cursor: rows.last().filter(|_| full).map(cursor) }
    }

    /// A list that is never cut into pages.
    pub fn whole(len: usize) -> Self {
        Self { limit: len as i64, next_cursor: None }
    }
}

impl Example for Pagination {
    fn example() -> Self {
        Self { limit: DEFAULT_LIMIT, next_cursor: Some("1742".to_owned()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_to_20_and_stay_within_1_to_100() {
        assert_eq!(PageLimit::parse(None).ok(), Some(PageLimit(20)));
        assert_eq!(PageLimit::parse(Some("100")).ok(), Some(PageLimit(100)));
        for bad in ["0", "101", "-1", "ten", ""] {
            let problem = PageLimit::parse(Some(bad)).err();
            assert_eq!(problem.as_ref().map(|p| p.code()), Some("invalid_request"), "{bad}");
            assert_eq!(problem.map(|p| p.errors()[0].field.clone()).as_deref(), Some("limit"));
        }
    }

    #[test]
    fn cursors_are_decoded_by_their_list_and_a_foreign_one_is_refused() {
        let cursor = PageCursor(Some("17".to_owned()));
        assert_eq!(cursor.decode(|text| text.parse::<i64>().ok()).ok(), Some(Some(17)));
        assert_eq!(PageCursor(None).decode(|text| text.parse::<i64>().ok()).ok(), Some(None));
        assert!(PageCursor(Some("x".to_owned())).decode(|text| text.parse::<i64>().ok()).is_err());
        let page = Pagination::of(PageLimit(2), &[1, 2], |n| n.to_string());
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
        assert_eq!(Pagination::of(PageLimit(3), &[1, 2], |n| n.to_string()).next_cursor, None);
    }
}
