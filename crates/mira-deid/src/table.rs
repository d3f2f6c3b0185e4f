//! PS3.15 Table E.1-1 (Application Level Confidentiality Profile Attributes), compiled in.
//!
//! The table is vendored as `table/ps315-table-e1-1.csv`, a byte-for-byte copy of
//! `../shared/reference/ps315-table-e1-1.csv`. Why a copy and not a build script reading
//! `../shared`: the table is reference material from the standard (not test data), and the crate
//! must build on a fresh clone where `../shared` does not exist; a build that silently changes
//! meaning with a sibling directory would be worse. The test `vendored_table_matches_reference`
//! fails when the two differ, so an update of the reference is noticed and copied in.

use std::collections::HashMap;
use std::sync::LazyLock;

use dicom_core::Tag;

use crate::options::DeidOption;

/// The vendored CSV.
pub const TABLE_CSV: &str = include_str!("../table/ps315-table-e1-1.csv");

/// An action code of Table E.1-1a, possibly a combination ("X/Z").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ActionCode {
    /// D: replace with a non-zero length dummy value consistent with the VR.
    D,
    /// Z: replace with a zero length value (or a dummy).
    Z,
    /// X: remove.
    X,
    /// K: keep.
    K,
    /// C: clean (replace with values of similar meaning that identify no one).
    C,
    /// U: replace with a UID consistent within the data set.
    U,
    /// X/Z: X unless Z is required for IOD conformance (Type 2).
    XZ,
    /// X/D: X unless D is required (Type 1).
    XD,
    /// X/Z/D: X unless Z or D is required.
    XZD,
    /// Z/D: Z unless D is required.
    ZD,
    /// X/Z/U*: X unless Z or, for sequences, replacement of the UIDs inside is required.
    XZU,
}

impl ActionCode {
    fn parse(code: &str) -> Option<ActionCode> {
        Some(match code {
            "D" => ActionCode::D,
            "Z" => ActionCode::Z,
            "X" => ActionCode::X,
            "K" => ActionCode::K,
            "C" => ActionCode::C,
            "U" => ActionCode::U,
            "X/Z" => ActionCode::XZ,
            "X/D" => ActionCode::XD,
            "X/Z/D" => ActionCode::XZD,
            "Z/D" => ActionCode::ZD,
            "X/Z/U*" => ActionCode::XZU,
            _ => return None,
        })
    }
}

/// One row of the table: the Basic Profile's action and each option's override.
#[derive(Debug, Clone)]
pub struct ProfileRule {
    /// Attribute name as the standard writes it.
    pub name: String,
    /// The Basic Profile's action.
    pub basic: ActionCode,
    /// The overriding action under each option, where the option has one.
    pub overrides: Vec<(DeidOption, ActionCode)>,
}

impl ProfileRule {
    /// The action for this attribute with `options` in force: an option's K wins over its C
    /// (retaining is what an option is chosen for), a C wins over the Basic Profile.
    pub fn action(&self, options: &[DeidOption]) -> ActionCode {
        let mut clean = None;
        for (option, code) in &self.overrides {
            if options.contains(option) {
                match code {
                    ActionCode::K => return ActionCode::K,
                    other => clean = clean.or(Some(*other)),
                }
            }
        }
        clean.unwrap_or(self.basic)
    }
}

/// The parsed table: exact tags, plus the repeating-group and private-attribute rows.
#[derive(Debug)]
pub struct ProfileTable {
    exact: HashMap<Tag, ProfileRule>,
    /// (50xx,xxxx) Curve Data: the whole group range.
    curves: ProfileRule,
    /// (60xx,eeee) overlay rows, by element.
    overlays: HashMap<u16, ProfileRule>,
    /// (gggg,eeee) where gggg is odd.
    private: ProfileRule,
}

/// A malformed row in the table (a test asserts there is none).
#[derive(Debug, thiserror::Error)]
#[error("row {row} of PS3.15 Table E.1-1: {reason}")]
pub struct TableError {
    row: usize,
    reason: String,
}

/// The compiled-in table, parsed on first use.
pub static TABLE: LazyLock<ProfileTable> =
    LazyLock::new(|| ProfileTable::parse(TABLE_CSV).expect("the vendored table parses (tested)"));

const OPTION_COLUMNS: [(usize, Option<DeidOption>); 10] = [
    (4, Some(DeidOption::RetainSafePrivate)),
    (5, Some(DeidOption::RetainUids)),
    (6, Some(DeidOption::RetainDeviceIdentity)),
    (7, Some(DeidOption::RetainInstitutionIdentity)),
    (8, Some(DeidOption::RetainPatientCharacteristics)),
    (9, None), // Retain Longitudinal Temporal Information with Full Dates: not offered
    (10, Some(DeidOption::RetainLongitudinalModifiedDates)),
    (11, Some(DeidOption::CleanDescriptors)),
    (12, Some(DeidOption::CleanStructuredContent)),
    (13, Some(DeidOption::CleanGraphics)),
];

impl ProfileTable {
    /// Parses the CSV (header row, then `"(gggg,eeee)",name,stdCompIOD,basic,options…`).
    pub fn parse(csv: &str) -> Result<ProfileTable, TableError> {
        let mut exact = HashMap::new();
        let mut curves = None;
        let mut overlays = HashMap::new();
        let mut private = None;
        for (index, fields) in csv_records(csv).into_iter().enumerate().skip(1) {
            let row = index + 1;
            if fields.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            let err = |reason: String| TableError { row, reason };
            if fields.len() != 14 {
                return Err(err(format!("{} fields, expected 14", fields.len())));
            }
            let basic = ActionCode::parse(&fields[3])
                .ok_or_else(|| err(format!("unknown action {:?}", fields[3])))?;
            let mut overrides = Vec::new();
            for (column, option) in OPTION_COLUMNS {
                let code = fields[column].trim();
                if code.is_empty() {
                    continue;
                }
                let code = ActionCode::parse(code)
                    .ok_or_else(|| err(format!("unknown action {code:?}")))?;
                if let Some(option) = option {
                    overrides.push((option, code));
                }
            }
            let rule = ProfileRule {
                name: fields[1].clone(),
                basic,
                overrides,
            };
            let tag = fields[0].to_ascii_uppercase();
            if tag.starts_with("(GGGG,EEEE)") {
                private = Some(rule);
            } else if tag == "(50XX,XXXX)" {
                curves = Some(rule);
            } else if let Some(element) = tag.strip_prefix("(60XX,") {
                let element = u16::from_str_radix(element.trim_end_matches(')'), 16)
                    .map_err(|_| err(format!("bad tag {tag}")))?;
                overlays.insert(element, rule);
            } else {
                let parsed = parse_tag(&tag).ok_or_else(|| err(format!("bad tag {tag}")))?;
                exact.insert(parsed, rule);
            }
        }
        Ok(ProfileTable {
            exact,
            curves: curves.ok_or(TableError {
                row: 0,
                reason: "no (50xx,xxxx) row".into(),
            })?,
            overlays,
            private: private.ok_or(TableError {
                row: 0,
                reason: "no private attributes row".into(),
            })?,
        })
    }

    /// The rule for `tag`, or `None` where the table does not list it (the attribute is kept,
    /// subject to the VR-based safeguards of [`crate::Deidentifier`]).
    pub fn rule(&self, tag: Tag) -> Option<&ProfileRule> {
        if tag.group() % 2 == 1 {
            return Some(&self.private);
        }
        if let Some(rule) = self.exact.get(&tag) {
            return Some(rule);
        }
        match tag.group() & 0xFF00 {
            0x5000 => Some(&self.curves),
            0x6000 => self.overlays.get(&tag.element()),
            _ => None,
        }
    }

    /// Number of exactly-tagged rows.
    pub fn len(&self) -> usize {
        self.exact.len()
    }

    /// Whether the table is empty (it never is).
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
    }
}

fn parse_tag(text: &str) -> Option<Tag> {
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    let (group, element) = inner.split_once(',')?;
    Some(Tag(
        u16::from_str_radix(group, 16).ok()?,
        u16::from_str_radix(element, 16).ok()?,
    ))
}

/// Splits CSV text into records of fields: commas, double-quoted fields with `""` escapes
/// and line breaks inside quotes (a few names in the table carry a note on a second line).
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            ('\r', false) => {}
            ('\n', false) => {
                fields.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut fields));
            }
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push(fields);
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendored_table_parses_every_row() {
        let rows = csv_records(TABLE_CSV).len() - 1;
        // 621 rows: all exact tags but the private row, the curve row and two overlay rows
        assert_eq!(rows, 621);
        assert_eq!(TABLE.len(), rows - 4);
        let name = TABLE.rule(Tag(0x0010, 0x0010)).unwrap();
        assert_eq!(name.name, "Patient's Name");
        assert_eq!(name.basic, ActionCode::Z);
        assert_eq!(
            TABLE.rule(Tag(0x0008, 0x1140)).unwrap().basic,
            ActionCode::XZU
        );
        assert_eq!(
            TABLE.rule(Tag(0x6002, 0x3000)).unwrap().basic,
            ActionCode::X
        );
        assert_eq!(
            TABLE.rule(Tag(0x0029, 0x1010)).unwrap().basic,
            ActionCode::X
        );
        assert!(TABLE.rule(Tag(0x0028, 0x0010)).is_none());
    }

    #[test]
    fn options_override_the_basic_profile() {
        let date = TABLE.rule(Tag(0x0008, 0x0020)).unwrap();
        assert_eq!(date.action(&[]), ActionCode::Z);
        assert_eq!(
            date.action(&[DeidOption::RetainLongitudinalModifiedDates]),
            ActionCode::C
        );
        let uid = TABLE.rule(Tag(0x0020, 0x000D)).unwrap();
        assert_eq!(uid.action(&[]), ActionCode::U);
        assert_eq!(uid.action(&[DeidOption::RetainUids]), ActionCode::K);
    }

    /// The vendored copy must equal the reference table wherever `../shared` exists.
    #[test]
    fn vendored_table_matches_reference() {
        let reference = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/reference/ps315-table-e1-1.csv");
        match std::fs::read_to_string(&reference) {
            Ok(text) => assert!(
                text == TABLE_CSV,
                "table/ps315-table-e1-1.csv differs from {}: copy the reference in",
                reference.display()
            ),
            Err(_) => eprintln!("skipping: {} not found", reference.display()),
        }
    }
}
