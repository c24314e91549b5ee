//! Language detection for `lang:` filters, where the platform does not say.
//!
//! whatlang's trigram detector, trusted only when it says it is reliable and the text is long
//! enough; codes are ISO 639-1 (`en`) where one exists, else whatlang's ISO 639-3.

/// Shortest text worth guessing a language for: shorter guesses are mostly noise.
const MIN_CHARS: usize = 24;

/// Two-letter code of `text`'s language, if it can be told reliably.
pub fn detect(text: &str) -> Option<String> {
    if text.chars().filter(|c| c.is_alphabetic()).count() < MIN_CHARS {
        return None;
    }
    let info = whatlang::detect(text)?;
    if !info.is_reliable() {
        return None;
    }
    let code = info.lang().code();
    Some(to_iso639_1(code).unwrap_or(code).to_string())
}

/// ISO 639-3 to ISO 639-1 for the languages whatlang knows.
pub fn to_iso639_1(code3: &str) -> Option<&'static str> {
    const TABLE: &[(&str, &str)] = &[
        ("afr", "af"),
        ("aka", "ak"),
        ("amh", "am"),
        ("ara", "ar"),
        ("aze", "az"),
        ("bel", "be"),
        ("ben", "bn"),
        ("bul", "bg"),
        ("cat", "ca"),
        ("ces", "cs"),
        ("cmn", "zh"),
        ("dan", "da"),
        ("deu", "de"),
        ("ell", "el"),
        ("eng", "en"),
        ("epo", "eo"),
        ("est", "et"),
        ("fin", "fi"),
        ("fra", "fr"),
        ("guj", "gu"),
        ("heb", "he"),
        ("hin", "hi"),
        ("hrv", "hr"),
        ("hun", "hu"),
        ("hye", "hy"),
        ("ind", "id"),
        ("ita", "it"),
        ("jav", "jv"),
        ("jpn", "ja"),
        ("kan", "kn"),
        ("kat", "ka"),
        ("khm", "km"),
        ("kor", "ko"),
        ("lat", "la"),
        ("lav", "lv"),
        ("lit", "lt"),
        ("mal", "ml"),
        ("mar", "mr"),
        ("mkd", "mk"),
        ("mya", "my"),
        ("nep", "ne"),
        ("nld", "nl"),
        ("nob", "nb"),
        ("ori", "or"),
        ("pan", "pa"),
        ("pes", "fa"),
        ("pol", "pl"),
        ("por", "pt"),
        ("ron", "ro"),
        ("rus", "ru"),
        ("sin", "si"),
        ("slk", "sk"),
        ("slv", "sl"),
        ("sna", "sn"),
        ("spa", "es"),
        ("srp", "sr"),
        ("swe", "sv"),
        ("tam", "ta"),
        ("tel", "te"),
        ("tgl", "tl"),
        ("tha", "th"),
        ("tuk", "tk"),
        ("tur", "tr"),
        ("ukr", "uk"),
        ("urd", "ur"),
        ("uzb", "uz"),
        ("vie", "vi"),
        ("yid", "yi"),
        ("yor", "yo"),
        ("zul", "zu"),
    ];
    TABLE.iter().find(|(c3, _)| *c3 == code3).map(|(_, c1)| *c1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_common_languages_and_declines_short_text() {
        let cases = [
            (
                "The new release is fantastic and the support team answered within minutes.",
                Some("en"),
            ),
            (
                "La nueva versión es fantástica y el equipo de soporte respondió en minutos.",
                Some("es"),
            ),
            (
                "Die neue Version ist fantastisch und der Support hat sofort geantwortet.",
                Some("de"),
            ),
            (
                "La nouvelle version est formidable et le support a répondu en quelques minutes seulement.",
                Some("fr"),
            ),
            ("ok thanks", None),
        ];
        for (text, want) in cases {
            assert_eq!(detect(text).as_deref(), want, "{text}");
        }
    }
}
