//! Official municipality lists (code, name, region or county) as the packages ship them, each
//! a CSV with a header line: Denmark's 98 for `flytning`, Sweden's 290 for `folkbokforing`.

use forlob_engine::form::Choice;

#[derive(Debug, Clone)]
pub struct Municipality {
    pub code: String,
    pub name: String,
    /// Denmark's region or Sweden's län.
    pub region: String,
}

/// The rows of a `code,name,region` file.
pub fn parse(csv: &str) -> Vec<Municipality> {
    csv.lines()
        .skip(1)
        .filter_map(|line| {
            let mut parts = line.splitn(3, ',');
            Some(Municipality {
                code: parts.next()?.trim().to_owned(),
                name: parts.next()?.trim().to_owned(),
                region: parts.next()?.trim().to_owned(),
            })
        })
        .collect()
}

/// Choices for a form: the code, labelled with code and name.
pub fn choices(all: &[Municipality]) -> Vec<Choice> {
    all.iter()
        .map(|k| Choice {
            value: k.code.clone(),
            label: format!("{} {}", k.code, k.name),
        })
        .collect()
}
