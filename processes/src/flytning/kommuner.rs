//! The 98 Danish municipalities, from the official list shipped with the package.

use std::sync::OnceLock;

use forlob_engine::form::Choice;

pub use crate::municipalities::Municipality as Kommune;

const CSV: &str = include_str!("../../flytning/data/kommuner.csv");

/// All municipalities, in the file's order.
pub fn all() -> &'static [Kommune] {
    static ALL: OnceLock<Vec<Kommune>> = OnceLock::new();
    ALL.get_or_init(|| crate::municipalities::parse(CSV))
}

pub fn find(code: &str) -> Option<&'static Kommune> {
    all().iter().find(|k| k.code == code)
}

pub fn choices() -> Vec<Choice> {
    crate::municipalities::choices(all())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_list_has_the_98_municipalities_in_five_regions() {
        let all = super::all();
        assert_eq!(all.len(), 98);
        let mut regions: Vec<&str> = all.iter().map(|k| k.region.as_str()).collect();
        regions.sort_unstable();
        regions.dedup();
        assert_eq!(regions.len(), 5);
        assert_eq!(
            super::find("101").map(|k| k.name.as_str()),
            Some("København")
        );
        assert!(super::find("999").is_none());
    }
}
