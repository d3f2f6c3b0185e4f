//! Export for an IHE ATNA audit record repository: DICOM audit messages (PS3.15 A.5, the
//! RFC 3881 schema as DICOM refines it) carried in RFC 5424 syslog lines (RFC 5425/5426
//! transports take them as they are), and JSON lines for everything else.

use std::fmt::Write;

use crate::event::{Actor, AuditAction, AuditObject, AuditRecord, Outcome};

/// A coded value of the audit schema: (code, code system, display text).
type Code = (&'static str, &'static str, &'static str);

/// EventID, EventActionCode and, where the standard has one, EventTypeCode of an action.
fn event_codes(action: AuditAction) -> (Code, &'static str, Option<Code>) {
    const DCM: &str = "DCM";
    match action {
        AuditAction::Query => (("110112", DCM, "Query"), "E", None),
        AuditAction::PatientRecord => (("110110", DCM, "Patient Record"), "R", None),
        AuditAction::View => (("110103", DCM, "DICOM Instances Accessed"), "R", None),
        AuditAction::Retrieve => (("110104", DCM, "DICOM Instances Transferred"), "R", None),
        AuditAction::Store => (("110104", DCM, "DICOM Instances Transferred"), "C", None),
        AuditAction::Export => (("110106", DCM, "Export"), "R", None),
        AuditAction::Sign => (("110103", DCM, "DICOM Instances Accessed"), "U", None),
        AuditAction::Deidentify => (("110103", DCM, "DICOM Instances Accessed"), "C", None),
        AuditAction::Login | AuditAction::FailedLogin => (
            ("110114", DCM, "User Authentication"),
            "E",
            Some(("110122", DCM, "Login")),
        ),
        AuditAction::Logout => (
            ("110114", DCM, "User Authentication"),
            "E",
            Some(("110123", DCM, "Logout")),
        ),
        AuditAction::PermissionChange => (("110136", DCM, "Security Roles Changed"), "U", None),
        AuditAction::DatasetRelease => (("110106", DCM, "Export"), "E", None),
    }
}

/// EventOutcomeIndicator: 0 success, 4 minor failure (refused), 8 serious failure.
fn outcome_indicator(outcome: Outcome, action: AuditAction) -> &'static str {
    match (outcome, action) {
        (_, AuditAction::FailedLogin) => "4",
        (Outcome::Success, _) => "0",
        (Outcome::Denied, _) => "4",
        (Outcome::Failure, _) => "8",
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // characters XML 1.0 cannot carry at all
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn code_element(out: &mut String, name: &str, (code, system, text): Code) {
    let _ = write!(
        out,
        r#"<{name} csd-code="{code}" codeSystemName="{system}" originalText="{}"/>"#,
        escape(text)
    );
}

/// The DICOM audit message (PS3.15 A.5.1) for one record. `source_id` names this mira
/// (AuditSourceID, e.g. `mira@node-1`).
pub fn audit_message_xml(record: &AuditRecord, source_id: &str) -> String {
    let event = &record.event;
    let (event_id, action_code, type_code) = event_codes(event.action);
    let mut out = String::with_capacity(1024);
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?><AuditMessage>"#);
    let _ = write!(
        out,
        r#"<EventIdentification EventActionCode="{action_code}" EventDateTime="{}" EventOutcomeIndicator="{}">"#,
        escape(&record.recorded_at),
        outcome_indicator(event.outcome, event.action)
    );
    code_element(&mut out, "EventID", event_id);
    if let Some(type_code) = type_code {
        code_element(&mut out, "EventTypeCode", type_code);
    }
    out.push_str("</EventIdentification>");

    // the requestor: a person or a peer application
    let (user_id, requestor_role) = match &event.actor {
        Actor::User(name) => (name.as_str(), None),
        Actor::AeTitle(ae) => (ae.as_str(), Some(("110153", "DCM", "Source Role ID"))),
        Actor::System(name) => (name.as_str(), None),
    };
    let _ = write!(
        out,
        r#"<ActiveParticipant UserID="{}" UserIsRequestor="true""#,
        escape(user_id)
    );
    if let Actor::AeTitle(ae) = &event.actor {
        let _ = write!(out, r#" AlternativeUserID="AETITLES={}""#, escape(ae));
    }
    if !event.source_address.is_empty() {
        let _ = write!(
            out,
            r#" NetworkAccessPointID="{}" NetworkAccessPointTypeCode="{}""#,
            escape(&event.source_address),
            if event.source_address.parse::<std::net::IpAddr>().is_ok() {
                "2"
            } else {
                "1"
            }
        );
    }
    out.push('>');
    if let Some(role) = requestor_role {
        code_element(&mut out, "RoleIDCode", role);
    }
    out.push_str("</ActiveParticipant>");
    // mira itself
    let _ = write!(
        out,
        r#"<ActiveParticipant UserID="{}" UserIsRequestor="false">"#,
        escape(source_id)
    );
    code_element(
        &mut out,
        "RoleIDCode",
        ("110152", "DCM", "Destination Role ID"),
    );
    out.push_str("</ActiveParticipant>");

    let _ = write!(
        out,
        r#"<AuditSourceIdentification AuditEnterpriseSiteID="{}" AuditSourceID="{}">"#,
        escape(&event.site),
        escape(source_id)
    );
    // 4: application server process tier (RFC 3881 audit source type)
    code_element(
        &mut out,
        "AuditSourceTypeCode",
        ("4", "DCM", "Application Server"),
    );
    out.push_str("</AuditSourceIdentification>");

    // (type code, role, ID type code)
    let object: Option<(&str, &str, Code)> = match &event.object {
        AuditObject::None => None,
        AuditObject::Study(_) => Some(("2", "3", ("110180", "DCM", "Study Instance UID"))),
        AuditObject::Series(_) => Some(("2", "3", ("112002", "DCM", "Series Instance UID"))),
        AuditObject::Patient(_) => Some(("1", "1", ("2", "RFC-3881", "Patient Number"))),
        AuditObject::User(_) => Some(("1", "11", ("11", "RFC-3881", "User Identifier"))),
        AuditObject::Dataset(_) => Some(("2", "3", ("9", "RFC-3881", "Report Number"))),
        AuditObject::Query(_) => Some(("2", "24", ("110181", "DCM", "SOP Class UID"))),
    };
    if let Some((type_code, role, id_type)) = object {
        let _ = write!(
            out,
            r#"<ParticipantObjectIdentification ParticipantObjectID="{}" ParticipantObjectTypeCode="{type_code}" ParticipantObjectTypeCodeRole="{role}">"#,
            escape(event.object.id())
        );
        code_element(&mut out, "ParticipantObjectIDTypeCode", id_type);
        if !event.detail.is_empty() {
            let _ = write!(
                out,
                r#"<ParticipantObjectDetail type="mira-detail" value="{}"/>"#,
                escape(&event.detail)
            );
        }
        out.push_str("</ParticipantObjectIdentification>");
    }
    out.push_str("</AuditMessage>");
    out
}

/// One RFC 5424 syslog line carrying the audit message: facility authpriv (10), severity
/// notice (5) for successes and warning (4) otherwise; MSGID `IHE+RFC-3881`; the message
/// as UTF-8 with its BOM, as RFC 5424 §6.4 asks. The chain's sequence number and hash go in
/// structured data so that a collector keeps the anchor of every record.
pub fn syslog_line(record: &AuditRecord, hostname: &str, source_id: &str) -> String {
    let severity = if record.event.outcome == Outcome::Success
        && record.event.action != AuditAction::FailedLogin
    {
        5
    } else {
        4
    };
    let pri = 10 * 8 + severity;
    let hostname = printable_or_nil(hostname, 255);
    format!(
        "<{pri}>1 {} {hostname} mira - IHE+RFC-3881 [mira-audit@32473 seq=\"{}\" hash=\"{}\"] \u{FEFF}{}",
        record.recorded_at,
        record.seq,
        record.hash,
        audit_message_xml(record, source_id)
    )
}

/// An RFC 5424 header field: printable US-ASCII without spaces, or `-`.
fn printable_or_nil(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if cleaned.is_empty() {
        "-".into()
    } else {
        cleaned
    }
}

/// One JSON line per record (the record with its chain fields).
pub fn json_line(record: &AuditRecord) -> String {
    serde_json::to_string(record).expect("records serialise")
}
