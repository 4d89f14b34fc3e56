//! Sweden's 290 municipalities (four-digit codes; the first two are the county), from the
//! list shipped with the package.

use std::sync::OnceLock;

use crate::municipalities::{self, Municipality};

const CSV: &str = include_str!("../../folkbokforing/data/kommuner.csv");

pub fn all() -> &'static [Municipality] {
    static ALL: OnceLock<Vec<Municipality>> = OnceLock::new();
    ALL.get_or_init(|| municipalities::parse(CSV))
}

pub fn find(code: &str) -> Option<&'static Municipality> {
    all().iter().find(|k| k.code == code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_list_has_the_290_municipalities_with_four_digit_codes() {
        let all = super::all();
        assert_eq!(all.len(), 290);
        assert!(all.iter().all(|k| k.code.len() == 4));
        assert_eq!(
            super::find("2281").map(|k| k.name.as_str()),
            Some("Sundsvall")
        );
    }
}
