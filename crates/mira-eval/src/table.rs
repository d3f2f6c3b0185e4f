//! A small CSV reader for ground truth and prediction files: comma-separated, optional double
//! quotes (`""` inside quotes is a quote), blank lines skipped, CRLF accepted. Every row keeps
//! its line number so that errors name the file and the line.

use std::path::{Path, PathBuf};

use crate::error::InputError;

/// A CSV file read into memory.
#[derive(Debug, Clone)]
pub struct Table {
    /// Where it was read from.
    pub path: PathBuf,
    /// The header's column names (empty for a file read without a header).
    pub header: Vec<String>,
    /// The rows after the header: (line number from 1, fields).
    pub rows: Vec<(usize, Vec<String>)>,
}

impl Table {
    /// Reads `path`; with `has_header`, its first non-blank line names the columns.
    pub fn read(path: &Path, has_header: bool) -> Result<Table, InputError> {
        let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Table::parse(path, &text, has_header)
    }

    /// Parses `text` as if read from `path`.
    pub fn parse(path: &Path, text: &str, has_header: bool) -> Result<Table, InputError> {
        let mut header = Vec::new();
        let mut rows = Vec::new();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            if raw.trim().is_empty() {
                continue;
            }
            let fields =
                split_fields(raw).map_err(|reason| InputError::line(path, line, reason))?;
            if has_header && header.is_empty() {
                header = fields.into_iter().map(|f| f.trim().to_string()).collect();
                continue;
            }
            if has_header && fields.len() != header.len() {
                return Err(InputError::line(
                    path,
                    line,
                    format!(
                        "{} fields, the header has {} columns",
                        fields.len(),
                        header.len()
                    ),
                ));
            }
            rows.push((line, fields));
        }
        if has_header && header.is_empty() {
            return Err(InputError::file(path, "empty file: no header line"));
        }
        Ok(Table {
            path: path.to_path_buf(),
            header,
            rows,
        })
    }

    /// The index of column `name`, or an error naming the file and the columns it has.
    pub fn column(&self, name: &str) -> Result<usize, InputError> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            InputError::file(
                &self.path,
                format!("no column '{name}' (columns: {})", self.header.join(", ")),
            )
        })
    }

    /// The index of column `name` when the file has it.
    pub fn optional_column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// Field `index` of a row parsed as a finite number, or an error naming the line.
    pub fn number(&self, line: usize, fields: &[String], index: usize) -> Result<f64, InputError> {
        let text = fields[index].trim();
        let column = self
            .header
            .get(index)
            .map(String::as_str)
            .unwrap_or("value");
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(InputError::line(
                &self.path,
                line,
                format!("{column} '{text}' is not a finite number"),
            )),
        }
    }
}

fn split_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else if c == '"' && field.trim().is_empty() && !was_quoted {
            field.clear();
            quoted = true;
            was_quoted = true;
        } else if c == ',' {
            fields.push(std::mem::take(&mut field));
            was_quoted = false;
        } else if was_quoted && !c.is_whitespace() {
            return Err(format!("text after a closing quote: '{c}'"));
        } else {
            field.push(c);
        }
    }
    if quoted {
        return Err("a quoted field is not closed".to_string());
    }
    fields.push(field);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_split_on_commas_and_quotes() {
        let cases: &[(&str, Result<Vec<&str>, ()>)] = &[
            ("a,b,c", Ok(vec!["a", "b", "c"])),
            ("\"a,b\",c", Ok(vec!["a,b", "c"])),
            ("\"say \"\"hi\"\"\",x", Ok(vec!["say \"hi\"", "x"])),
            ("a,,", Ok(vec!["a", "", ""])),
            ("\"open,x", Err(())),
            ("\"a\"b,c", Err(())),
        ];
        for (line, want) in cases {
            let got = split_fields(line).map_err(|_| ());
            let want = want
                .clone()
                .map(|v| v.iter().map(|s| s.to_string()).collect());
            assert_eq!(got, want, "{line}");
        }
    }

    #[test]
    fn a_short_row_names_its_line() {
        let err = Table::parse(Path::new("t.csv"), "id,label\na,1\n\nb\n", true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv, line 4: 1 fields, the header has 2 columns"
        );
    }
}
