//! Masking personal data for roles that may not see it (viewers, and exports by them).

/// Keeps the first 3 and last 4 characters of a mobile number: `138****5678`.
pub fn mobile(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// Keeps the first character of a name: `张**`.
pub fn name(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count().max(1))),
        None => String::new(),
    }
}

/// Keeps the last 4 characters of an identifier (code, openid): `****1234`.
pub fn tail(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("****{tail}")
}

/// Hides everything.
pub fn all(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        "******".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_is_masked_but_recognisable() {
        assert_eq!(mobile("13800135678"), "138****5678");
        assert_eq!(name("张三丰"), "张**");
        assert_eq!(name("李"), "李*");
        assert_eq!(tail("123456789012"), "****9012");
        assert_eq!(all("x"), "******");
        assert_eq!(mobile("123"), "***");
    }
}
