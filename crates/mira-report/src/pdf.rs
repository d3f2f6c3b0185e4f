//! PDF export of a signed report: A4, a CJK TrueType font loaded at run time and subset into
//! the file (only the glyphs used are embedded, so a report is tens of kilobytes, not the
//! font's megabytes). printpdf subsets only with its heavy `text_layout` feature, so the font
//! is subset here first, with allsorts (printpdf's own font library), and embedded whole.
//!
//! Layout, top to bottom: the site; the title; patient, exam and dates; technique, findings,
//! impression and recommendation; the physician's signature and time; addenda, each with its
//! signature; and the line "AI-assisted; reviewed and signed by …" when AI findings were
//! accepted. Long paragraphs wrap by the font's glyph widths and flow onto further pages.
//!
//! The font is the first readable file of [`PdfOptions::fonts`]; the defaults are the Debian
//! packages `fonts-wqy-zenhei`, `fonts-wqy-microhei`, `fonts-noto-cjk` and
//! `fonts-droid-fallback`. Without one, [`render`] fails with [`ReportError::FontNotFound`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use printpdf::{
    Color, FontId, Line, LinePoint, Mm, Op, ParsedFont, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, Rgb, TextItem,
};

use crate::fhir::person_name;
use crate::{FindingSource, Language, ReportError, SignedReport};

/// CJK fonts tried by default, in order (Debian package in the comment).
pub const DEFAULT_FONTS: [&str; 6] = [
    // fonts-wqy-zenhei
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    // fonts-wqy-microhei
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    // fonts-noto-cjk
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    // fonts-droid-fallback
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    // fonts-arphic-uming
    "/usr/share/fonts/truetype/arphic/uming.ttc",
];

/// Where the PDF's font comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfOptions {
    /// Candidate font files (TrueType/OpenType or a collection, whose first face is used),
    /// tried in order.
    pub fonts: Vec<PathBuf>,
}

impl Default for PdfOptions {
    fn default() -> Self {
        PdfOptions {
            fonts: DEFAULT_FONTS.iter().map(PathBuf::from).collect(),
        }
    }
}

impl PdfOptions {
    /// Only this font file.
    pub fn with_font(path: impl Into<PathBuf>) -> Self {
        PdfOptions {
            fonts: vec![path.into()],
        }
    }
}

/// A font file read and parsed.
struct LoadedFont {
    path: PathBuf,
    bytes: Vec<u8>,
    parsed: ParsedFont,
}

/// The first candidate font that reads and parses and has Chinese glyphs.
fn load_font(options: &PdfOptions) -> Result<LoadedFont, ReportError> {
    let mut unparsable = None;
    for path in &options.fonts {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        match ParsedFont::from_bytes(&bytes, 0, &mut Vec::new()) {
            Some(parsed) if parsed.lookup_glyph_index('中' as u32).is_some() => {
                return Ok(LoadedFont {
                    path: path.clone(),
                    bytes,
                    parsed,
                });
            }
            _ => unparsable = unparsable.or_else(|| Some(path.clone())),
        }
    }
    Err(match unparsable {
        Some(path) => ReportError::FontParse { path },
        None => ReportError::FontNotFound {
            tried: options.fonts.clone(),
        },
    })
}

/// The font cut down to the glyphs of `chars` (and .notdef), with a Unicode cmap for them.
fn subset(font: &LoadedFont, chars: &BTreeSet<char>) -> Result<ParsedFont, ReportError> {
    use allsorts::binary::read::ReadScope;
    use allsorts::font_data::FontData;
    use allsorts::subset::{CmapTarget, SubsetProfile};
    use allsorts::tag;

    let failed = |reason: String| ReportError::FontSubset {
        path: font.path.clone(),
        reason,
    };
    let used: BTreeSet<u16> = chars
        .iter()
        .filter_map(|c| font.parsed.lookup_glyph_index(*c as u32))
        .filter(|g| *g != 0)
        .collect();
    // .notdef first, then the used glyphs, no duplicates (allsorts' requirements)
    let ids: Vec<u16> = std::iter::once(0).chain(used).collect();
    let data = ReadScope::new(&font.bytes)
        .read::<FontData<'_>>()
        .map_err(|e| failed(e.to_string()))?;
    let provider = data.table_provider(0).map_err(|e| failed(e.to_string()))?;
    let profile = SubsetProfile::Custom(vec![
        tag::CMAP,
        tag::HEAD,
        tag::HHEA,
        tag::HMTX,
        tag::MAXP,
        tag::NAME,
        tag::OS_2,
        tag::POST,
    ]);
    let bytes = allsorts::subset::subset(&provider, &ids, &profile, CmapTarget::Unicode)
        .map_err(|e| failed(e.to_string()))?;
    ParsedFont::from_bytes(&bytes, 0, &mut Vec::new())
        .ok_or_else(|| failed("the subset does not parse".into()))
}

const PAGE_WIDTH: f32 = 210.0;
const PAGE_HEIGHT: f32 = 297.0;
const MARGIN: f32 = 18.0;
const PT_PER_MM: f32 = 72.0 / 25.4;

/// Pages of text laid out top to bottom.
struct Layout<'a> {
    font: &'a ParsedFont,
    handle: PdfFontHandle,
    pages: Vec<Vec<Op>>,
    /// Baseline of the next line, in mm from the bottom.
    y: f32,
}

impl<'a> Layout<'a> {
    fn new(font: &'a ParsedFont, handle: PdfFontHandle) -> Self {
        Layout {
            font,
            handle,
            pages: vec![Vec::new()],
            y: PAGE_HEIGHT - MARGIN,
        }
    }

    /// Width of `text` at `size` points, in mm, from the font's advance widths.
    fn width(&self, text: &str, size: f32) -> f32 {
        let units = f32::from(self.font.units_per_em.max(1));
        let em: f32 = text
            .chars()
            .map(|c| {
                self.font
                    .lookup_glyph_index(c as u32)
                    .and_then(|g| self.font.get_glyph_width(g))
                    .map_or(1.0, |w| f32::from(w) / units)
            })
            .sum();
        em * size / PT_PER_MM
    }

    fn ensure_room(&mut self, height: f32) {
        if self.y - height < MARGIN {
            self.pages.push(Vec::new());
            self.y = PAGE_HEIGHT - MARGIN;
        }
    }

    /// One line of text at `x` mm, advancing by the line height.
    fn line(&mut self, text: &str, size: f32, x: f32) {
        let height = size * 1.5 / PT_PER_MM;
        self.ensure_room(height);
        self.y -= height;
        let ops = self.pages.last_mut().expect("a page");
        ops.extend([
            Op::StartTextSection,
            Op::SetFont {
                font: self.handle.clone(),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point::new(Mm(x), Mm(self.y)),
            },
            Op::ShowText {
                items: vec![TextItem::Text(text.to_owned())],
            },
            Op::EndTextSection,
        ]);
    }

    /// A paragraph wrapped to the text width, each input line starting a new line.
    fn paragraph(&mut self, text: &str, size: f32, indent: f32) {
        let max = PAGE_WIDTH - 2.0 * MARGIN - indent;
        for source_line in text.lines() {
            let mut current = String::new();
            for c in source_line.chars() {
                current.push(c);
                if self.width(&current, size) > max {
                    current.pop();
                    // break ASCII words at a space when one is near
                    let split = current
                        .rfind(' ')
                        .filter(|&i| i > current.len() / 2 && c.is_ascii_alphanumeric());
                    let rest = match split {
                        Some(i) => current.split_off(i + 1),
                        None => String::new(),
                    };
                    self.line(current.trim_end(), size, MARGIN + indent);
                    current = rest;
                    current.push(c);
                }
            }
            if !current.trim().is_empty() || source_line.is_empty() {
                self.line(&current, size, MARGIN + indent);
            }
        }
    }

    fn rule(&mut self) {
        self.ensure_room(4.0);
        self.y -= 2.0;
        let y = self.y;
        let ops = self.pages.last_mut().expect("a page");
        ops.extend([
            Op::SetOutlineColor {
                col: Color::Rgb(Rgb::new(0.4, 0.4, 0.4, None)),
            },
            Op::SetOutlineThickness { pt: Pt(0.6) },
            Op::DrawLine {
                line: Line {
                    points: [MARGIN, PAGE_WIDTH - MARGIN]
                        .map(|x| LinePoint {
                            p: Point::new(Mm(x), Mm(y)),
                            bezier: false,
                        })
                        .to_vec(),
                    is_closed: false,
                },
            },
        ]);
        self.y -= 2.0;
    }

    fn section(&mut self, title: &str, body: &str) {
        if body.trim().is_empty() {
            return;
        }
        self.ensure_room(16.0);
        self.line(title, 12.0, MARGIN);
        self.paragraph(body.trim(), 10.5, 4.0);
        self.y -= 2.0;
    }
}

fn format_da(da: Option<&str>) -> String {
    da.and_then(crate::templates::format_da).unwrap_or_default()
}

/// Renders a signed report as an A4 PDF with the default fonts.
pub fn render(report: &SignedReport) -> Result<Vec<u8>, ReportError> {
    render_with(report, &PdfOptions::default())
}

/// Renders a signed report as an A4 PDF with the font of `options`.
pub fn render_with(report: &SignedReport, options: &PdfOptions) -> Result<Vec<u8>, ReportError> {
    let font = load_font(options)?;
    let doc = &report.document;
    let zh = doc.language == Language::ZhCn;
    let t = |zh_text: &'static str, en_text: &'static str| if zh { zh_text } else { en_text };
    let h = &doc.header;
    let title = t("影像诊断报告", "Imaging Report");
    let mut pdf = PdfDocument::new(title);
    // laid out with the whole font's metrics; the font handle is set once the subset exists
    let mut layout = Layout::new(&font.parsed, PdfFontHandle::External(FontId::new()));

    if let Some(site) = h.site_name.as_deref().filter(|s| !s.is_empty()) {
        layout.line(site, 15.0, MARGIN);
    }
    layout.line(title, 13.0, MARGIN);
    layout.rule();
    let sex = match h.patient_sex.as_deref() {
        Some("M") => t("男", "M"),
        Some("F") => t("女", "F"),
        Some("O") => t("其他", "O"),
        _ => "",
    };
    let rows = [
        format!(
            "{}{}    {}{}    {}{}",
            t("姓名：", "Name: "),
            h.patient_name
                .as_deref()
                .map(person_name)
                .unwrap_or_default(),
            t("性别：", "Sex: "),
            sex,
            t("出生日期：", "Born: "),
            format_da(h.patient_birth_date.as_deref()),
        ),
        format!(
            "{}{}    {}{}",
            t("患者ID：", "Patient ID: "),
            h.patient_id.as_deref().unwrap_or(""),
            t("检查号：", "Exam no.: "),
            h.accession_number.as_deref().unwrap_or(""),
        ),
        format!(
            "{}{}    {}{}    {}{}",
            t("检查项目：", "Exam: "),
            h.study_description.as_deref().unwrap_or(""),
            t("部位：", "Body part: "),
            h.body_part.as_deref().unwrap_or(""),
            t("检查日期：", "Exam date: "),
            format_da(h.study_date.as_deref()),
        ),
    ];
    for row in &rows {
        layout.paragraph(row, 10.0, 0.0);
    }
    layout.rule();
    layout.section(t("检查技术", "Technique"), &doc.technique);
    layout.section(t("影像所见", "Findings"), &doc.findings_text);
    layout.section(t("诊断意见", "Impression"), &doc.impression);
    layout.section(t("建议", "Recommendation"), &doc.recommendation);
    layout.rule();
    layout.paragraph(
        &format!(
            "{}{}    {}{}",
            t("报告医师：", "Signed by: "),
            report.signature.display_name,
            t("签署时间：", "Signed at: "),
            report.signature.signed_at
        ),
        10.0,
        0.0,
    );
    for (n, (text, signature)) in report.addenda.iter().enumerate() {
        layout.y -= 2.0;
        let heading = if zh {
            format!(
                "补充报告 {}（{} {}）",
                n + 1,
                signature.display_name,
                signature.signed_at
            )
        } else {
            format!(
                "Addendum {} ({} {})",
                n + 1,
                signature.display_name,
                signature.signed_at
            )
        };
        layout.section(&heading, text);
    }
    let ai = doc
        .findings
        .iter()
        .any(|f| matches!(f.source, FindingSource::Ai { .. }));
    if ai {
        layout.y -= 2.0;
        layout.paragraph(
            &format!(
                "{}{}",
                t(
                    "本报告经人工智能辅助；已由以下医师审核并签署：",
                    "AI-assisted; reviewed and signed by "
                ),
                report.signature.display_name
            ),
            9.0,
            0.0,
        );
    }

    let chars: BTreeSet<char> = layout
        .pages
        .iter()
        .flatten()
        .filter_map(|op| match op {
            Op::ShowText { items } => Some(items),
            _ => None,
        })
        .flatten()
        .filter_map(|item| match item {
            TextItem::Text(text) => Some(text.chars()),
            _ => None,
        })
        .flatten()
        .collect();
    let subset = subset(&font, &chars)?;
    let handle = PdfFontHandle::External(pdf.add_font(&subset));
    for op in layout.pages.iter_mut().flatten() {
        if let Op::SetFont { font, .. } = op {
            *font = handle.clone();
        }
    }
    let pages = layout
        .pages
        .into_iter()
        .map(|ops| PdfPage::new(Mm(PAGE_WIDTH), Mm(PAGE_HEIGHT), ops))
        .collect();
    let options = PdfSaveOptions::default();
    Ok(pdf.with_pages(pages).save(&options, &mut Vec::new()))
}

/// Whether a default font is present (for callers that want to check before rendering).
pub fn default_font_available() -> bool {
    DEFAULT_FONTS.iter().any(|p| Path::new(p).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_font_is_a_clear_error() {
        let options = PdfOptions::with_font("/nonexistent/font.ttf");
        let err = render_with(&crate::test_support::signed_ldct(), &options).unwrap_err();
        assert!(matches!(err, ReportError::FontNotFound { ref tried } if tried.len() == 1));
        assert!(err.to_string().contains("fonts-wqy-zenhei"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_font_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-font.ttf");
        std::fs::write(&path, b"not a font").unwrap();
        let err = render_with(
            &crate::test_support::signed_ldct(),
            &PdfOptions::with_font(&path),
        )
        .unwrap_err();
        assert!(matches!(err, ReportError::FontParse { .. }), "{err}");
    }
}
