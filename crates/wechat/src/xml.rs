//! Writing the XML bodies WeChat exchanges (event pushes, the safe-mode envelope, encrypted replies) with
//! quick-xml's writer: one `<xml>` root holding one element per field, text in CDATA sections (a `]]>`
//! inside is split across two sections, as quick-xml's [`BytesCData::escaped`] does), numbers bare.

use std::fmt::Display;

use quick_xml::events::{BytesCData, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

/// How the elements are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// One line, no whitespace between elements (how WeChat sends pushes).
    #[default]
    Compact,
    /// Like the official samples: each element on its own line, indented by two spaces, and a space on
    /// either side of a CDATA section (receivers must trim values).
    Spaced,
}

/// Writes one `<xml>…</xml>` document, field by field.
pub struct XmlWriter {
    writer: Writer<Vec<u8>>,
    layout: Layout,
}

impl std::fmt::Debug for XmlWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmlWriter")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl XmlWriter {
    /// Starts a document laid out as `layout`.
    pub fn new(layout: Layout) -> Self {
        let mut xml = Self {
            writer: Writer::new(Vec::new()),
            layout,
        };
        xml.put(Event::Start(BytesStart::new("xml")));
        xml
    }

    /// `<name><![CDATA[value]]></name>`.
    pub fn text(&mut self, name: &str, value: &str) {
        self.open(name);
        let spaced = self.layout == Layout::Spaced;
        if spaced {
            self.raw(" ");
        }
        for section in BytesCData::escaped(value) {
            self.put(Event::CData(section));
        }
        if spaced {
            self.raw(" ");
        }
        self.put(Event::End(BytesEnd::new(name)));
    }

    /// `<name><![CDATA[value]]></name>` when there is a value; nothing otherwise.
    pub fn opt_text(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.text(name, value);
        }
    }

    /// `<name>value</name>`, the value escaped as element text: for numbers and other values WeChat
    /// writes without CDATA.
    pub fn bare(&mut self, name: &str, value: impl Display) {
        self.open(name);
        self.put(Event::Text(BytesText::new(&value.to_string())));
        self.put(Event::End(BytesEnd::new(name)));
    }

    /// `<name>0</name>` or `<name>1</name>`, as WeChat writes its flags.
    pub fn flag(&mut self, name: &str, value: bool) {
        self.bare(name, u8::from(value));
    }

    /// Closes the root and gives the document.
    pub fn finish(mut self) -> String {
        if self.layout == Layout::Spaced {
            self.raw("\n");
        }
        self.put(Event::End(BytesEnd::new("xml")));
        // Every byte written came from a `&str` or from quick-xml's own ASCII markup.
        String::from_utf8(self.writer.into_inner())
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned())
    }

    fn open(&mut self, name: &str) {
        if self.layout == Layout::Spaced {
            self.raw("\n  ");
        }
        self.put(Event::Start(BytesStart::new(name)));
    }

    /// Whitespace between elements, written as it is.
    fn raw(&mut self, text: &'static str) {
        self.put(Event::Text(BytesText::from_escaped(text)));
    }

    fn put(&mut self, event: Event<'_>) {
        // Writing into a `Vec` cannot fail.
        let _ = self.writer.write_event(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_text_goes_in_cdata_and_numbers_bare() {
        let mut xml = XmlWriter::new(Layout::Compact);
        xml.text("ToUserName", "gh_1");
        xml.bare("CreateTime", 1_432_668_700);
        xml.flag("IsGiveByFriend", true);
        xml.opt_text("OuterStr", None);
        assert_eq!(
            xml.finish(),
            "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><CreateTime>1432668700</CreateTime>\
             <IsGiveByFriend>1</IsGiveByFriend></xml>"
        );
    }

    #[test]
    fn spaced_layout_is_the_official_samples() {
        let mut xml = XmlWriter::new(Layout::Spaced);
        xml.text("Event", "user_get_card");
        xml.bare("CreateTime", 1);
        assert_eq!(
            xml.finish(),
            "<xml>\n  <Event> <![CDATA[user_get_card]]> </Event>\n  <CreateTime>1</CreateTime>\n</xml>"
        );
    }

    #[test]
    fn cdata_cannot_be_closed_early_and_bare_text_is_escaped() {
        let mut xml = XmlWriter::new(Layout::Compact);
        xml.text("A", "a]]>b");
        xml.bare("B", "1<2&3");
        assert_eq!(
            xml.finish(),
            "<xml><A><![CDATA[a]]]]><![CDATA[>b]]></A><B>1&lt;2&amp;3</B></xml>"
        );
    }
}
