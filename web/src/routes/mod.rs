//! HTTP routes: the JSON API (`api/`) and the server-rendered pages (`pages/`), one file per
//! resource with its handlers and router.

pub(crate) mod api;
pub(crate) mod pages;
