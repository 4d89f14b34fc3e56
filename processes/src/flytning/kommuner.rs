//! The 98 Danish municipalities, from the official list shipped with the package.

use std::sync::OnceLock;

use forlob_engine::form::Choice;

#[derive(Debug, Clone)]
pub struct Kommune {
    pub code: String,
    pub name: String,
    pub region: String,
}

const CSV: &str = include_str!("../../flytning/data/kommuner.csv");

/// All municipalities, in the file's order.
pub fn all() -> &'static [Kommune] {
    static ALL: OnceLock<Vec<Kommune>> = OnceLock::new();
    ALL.get_or_init(|| {
        CSV.lines()
            .skip(1)
            .filter_map(|line| {
                let mut parts = line.splitn(3, ',');
                Some(Kommune {
                    code: parts.next()?.trim().to_owned(),
                    name: parts.next()?.trim().to_owned(),
                    region: parts.next()?.trim().to_owned(),
                })
            })
            .collect()
    })
}

pub fn find(code: &str) -> Option<&'static Kommune> {
    all().iter().find(|k| k.code == code)
}

pub fn choices() -> Vec<Choice> {
    all()
        .iter()
        .map(|k| Choice {
            value: k.code.clone(),
            label: format!("{} {}", k.code, k.name),
        })
        .collect()
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
