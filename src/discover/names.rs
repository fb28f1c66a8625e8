//! Column names that say what a column holds: a dictionary in Dutch and English, read after
//! splitting a name into words (`klant_email_adres`, `contactPhone`, `IPAddress`), with Dutch
//! compounds (`klantnaam`, `telefoonnummer`) and the words that make a name neutral
//! (`email_verified`, `phone_model`, `company_name`).

use super::kind::Kind;

/// What a column's name says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NameMatch {
    /// The kind the name points to.
    pub kind: Kind,
    /// How sure the name alone is, 0 to 1: 1 for `email` or `bsn`, less for `name` or `city`.
    pub strength: f64,
}

/// The dictionary: a word (or words written together) and what it means. A word written
/// together matches a run of words too: `date_of_birth` is `dateofbirth`.
const WORDS: &[(&str, Kind, f64)] = &[
    // Contact.
    ("email", Kind::Email, 1.0),
    ("emailadres", Kind::Email, 1.0),
    ("emailaddress", Kind::Email, 1.0),
    ("emailaddr", Kind::Email, 1.0),
    ("mailadres", Kind::Email, 1.0),
    ("mailaddress", Kind::Email, 1.0),
    ("mail", Kind::Email, 0.8),
    ("phone", Kind::Phone, 1.0),
    ("phonenumber", Kind::Phone, 1.0),
    ("phoneno", Kind::Phone, 1.0),
    ("telephone", Kind::Phone, 1.0),
    ("telefoon", Kind::Phone, 1.0),
    ("telefoonnummer", Kind::Phone, 1.0),
    ("telnr", Kind::Phone, 1.0),
    ("tel", Kind::Phone, 0.8),
    ("mobile", Kind::Phone, 0.9),
    ("mobiel", Kind::Phone, 1.0),
    ("mobielnummer", Kind::Phone, 1.0),
    ("gsm", Kind::Phone, 0.9),
    ("cellphone", Kind::Phone, 1.0),
    ("cell", Kind::Phone, 0.7),
    ("fax", Kind::Phone, 0.8),
    ("faxnummer", Kind::Phone, 0.9),
    ("whatsapp", Kind::Phone, 0.9),
    ("msisdn", Kind::Phone, 1.0),
    ("name", Kind::Name, 0.7),
    ("naam", Kind::Name, 0.7),
    ("firstname", Kind::Name, 1.0),
    ("lastname", Kind::Name, 1.0),
    ("middlename", Kind::Name, 1.0),
    ("fullname", Kind::Name, 1.0),
    ("givenname", Kind::Name, 1.0),
    ("familyname", Kind::Name, 1.0),
    ("surname", Kind::Name, 1.0),
    ("displayname", Kind::Name, 0.9),
    ("username", Kind::Name, 0.8),
    ("voornaam", Kind::Name, 1.0),
    ("achternaam", Kind::Name, 1.0),
    ("tussenvoegsel", Kind::Name, 1.0),
    ("roepnaam", Kind::Name, 1.0),
    ("geslachtsnaam", Kind::Name, 1.0),
    ("voorletters", Kind::Name, 1.0),
    ("initials", Kind::Name, 0.9),
    ("gebruikersnaam", Kind::Name, 0.8),
    ("contactpersoon", Kind::Name, 1.0),
    ("contactperson", Kind::Name, 1.0),
    ("address", Kind::Address, 0.8),
    ("adres", Kind::Address, 0.8),
    ("street", Kind::Address, 1.0),
    ("streetname", Kind::Address, 1.0),
    ("straat", Kind::Address, 1.0),
    ("straatnaam", Kind::Address, 1.0),
    ("housenumber", Kind::Address, 1.0),
    ("huisnummer", Kind::Address, 1.0),
    ("huisnr", Kind::Address, 1.0),
    ("woonplaats", Kind::Address, 1.0),
    ("woonadres", Kind::Address, 1.0),
    ("addressline", Kind::Address, 1.0),
    ("adresregel", Kind::Address, 1.0),
    ("homeaddress", Kind::Address, 1.0),
    ("city", Kind::Address, 0.7),
    ("stad", Kind::Address, 0.6),
    ("plaats", Kind::Address, 0.6),
    ("residence", Kind::Address, 0.8),
    ("postcode", Kind::Postcode, 1.0),
    ("zip", Kind::Postcode, 0.8),
    ("zipcode", Kind::Postcode, 1.0),
    ("postalcode", Kind::Postcode, 1.0),
    ("postnummer", Kind::Postcode, 1.0),
    // Identifiers.
    ("birthdate", Kind::BirthDate, 1.0),
    ("dateofbirth", Kind::BirthDate, 1.0),
    ("birthday", Kind::BirthDate, 1.0),
    ("birth", Kind::BirthDate, 0.8),
    ("dob", Kind::BirthDate, 0.9),
    ("geboortedatum", Kind::BirthDate, 1.0),
    ("geboortedag", Kind::BirthDate, 1.0),
    ("geboorte", Kind::BirthDate, 0.9),
    ("geboren", Kind::BirthDate, 0.9),
    ("verjaardag", Kind::BirthDate, 1.0),
    ("bsn", Kind::NationalId, 1.0),
    ("burgerservicenummer", Kind::NationalId, 1.0),
    ("sofinummer", Kind::NationalId, 1.0),
    ("sofi", Kind::NationalId, 0.9),
    ("ssn", Kind::NationalId, 1.0),
    ("socialsecurity", Kind::NationalId, 1.0),
    ("nationalid", Kind::NationalId, 1.0),
    ("persoonsnummer", Kind::NationalId, 0.9),
    ("passport", Kind::Document, 1.0),
    ("paspoort", Kind::Document, 1.0),
    ("paspoortnummer", Kind::Document, 1.0),
    ("idnumber", Kind::Document, 0.8),
    ("idnummer", Kind::Document, 0.8),
    ("identiteitsbewijs", Kind::Document, 1.0),
    ("rijbewijs", Kind::Document, 1.0),
    ("driverslicense", Kind::Document, 1.0),
    ("documentnummer", Kind::Document, 0.8),
    ("kenteken", Kind::LicensePlate, 1.0),
    ("licenseplate", Kind::LicensePlate, 1.0),
    ("numberplate", Kind::LicensePlate, 1.0),
    ("nummerbord", Kind::LicensePlate, 1.0),
    ("gender", Kind::Gender, 1.0),
    ("geslacht", Kind::Gender, 1.0),
    ("sex", Kind::Gender, 0.9),
    // Financial.
    ("iban", Kind::Iban, 1.0),
    ("rekeningnummer", Kind::Iban, 1.0),
    ("bankrekening", Kind::Iban, 1.0),
    ("bankrekeningnummer", Kind::Iban, 1.0),
    ("tegenrekening", Kind::Iban, 1.0),
    ("rekening", Kind::Iban, 0.7),
    ("accountnumber", Kind::Iban, 0.9),
    ("bankaccount", Kind::Iban, 1.0),
    ("creditcard", Kind::PaymentCard, 1.0),
    ("cardnumber", Kind::PaymentCard, 1.0),
    ("kaartnummer", Kind::PaymentCard, 0.9),
    ("ccnumber", Kind::PaymentCard, 1.0),
    ("pan", Kind::PaymentCard, 0.6),
    // Network.
    ("ip", Kind::IpAddress, 1.0),
    ("ipv", Kind::IpAddress, 1.0),
    ("ipaddress", Kind::IpAddress, 1.0),
    ("ipaddr", Kind::IpAddress, 1.0),
    ("ipadres", Kind::IpAddress, 1.0),
    ("remoteaddr", Kind::IpAddress, 1.0),
    ("remoteaddress", Kind::IpAddress, 1.0),
    ("clientip", Kind::IpAddress, 1.0),
    ("xforwardedfor", Kind::IpAddress, 1.0),
    // Special categories.
    ("health", Kind::Special, 1.0),
    ("gezondheid", Kind::Special, 1.0),
    ("medical", Kind::Special, 1.0),
    ("medisch", Kind::Special, 1.0),
    ("medische", Kind::Special, 1.0),
    ("diagnosis", Kind::Special, 1.0),
    ("diagnose", Kind::Special, 1.0),
    ("allergy", Kind::Special, 1.0),
    ("allergies", Kind::Special, 1.0),
    ("allergie", Kind::Special, 1.0),
    ("medication", Kind::Special, 1.0),
    ("medicatie", Kind::Special, 1.0),
    ("religion", Kind::Special, 1.0),
    ("religie", Kind::Special, 1.0),
    ("geloof", Kind::Special, 1.0),
    ("ethnicity", Kind::Special, 1.0),
    ("etniciteit", Kind::Special, 1.0),
    ("vakbond", Kind::Special, 1.0),
    ("tradeunion", Kind::Special, 1.0),
    ("biometric", Kind::Special, 1.0),
    ("fingerprint", Kind::Special, 0.9),
    ("vingerafdruk", Kind::Special, 1.0),
    ("sexualorientation", Kind::Special, 1.0),
    ("geaardheid", Kind::Special, 1.0),
    ("disability", Kind::Special, 1.0),
    ("handicap", Kind::Special, 1.0),
    ("strafblad", Kind::Special, 1.0),
    ("criminalrecord", Kind::Special, 1.0),
    // Free text, found only when its values hold e-mail addresses or telephone numbers.
    ("notes", Kind::FreeText, 1.0),
    ("note", Kind::FreeText, 1.0),
    ("notitie", Kind::FreeText, 1.0),
    ("notities", Kind::FreeText, 1.0),
    ("opmerking", Kind::FreeText, 1.0),
    ("opmerkingen", Kind::FreeText, 1.0),
    ("comment", Kind::FreeText, 1.0),
    ("comments", Kind::FreeText, 1.0),
    ("remarks", Kind::FreeText, 1.0),
    ("toelichting", Kind::FreeText, 1.0),
    ("memo", Kind::FreeText, 1.0),
    ("bericht", Kind::FreeText, 1.0),
    ("message", Kind::FreeText, 0.8),
];

/// Heads of Dutch compounds: a word that starts with one of these means it
/// (`telefoonnummer_werk`, `geboorteplaats`, `emailadressen`).
const HEADS: &[(&str, Kind)] = &[
    ("email", Kind::Email),
    ("telefoon", Kind::Phone),
    ("mobiel", Kind::Phone),
    ("geboorte", Kind::BirthDate),
    ("straat", Kind::Address),
    ("woonplaats", Kind::Address),
    ("postcode", Kind::Postcode),
    ("rekeningnummer", Kind::Iban),
    ("kenteken", Kind::LicensePlate),
    ("paspoort", Kind::Document),
    ("burgerservice", Kind::NationalId),
];

/// Tails of Dutch compounds: a word that ends with one of these means it (`klantnaam`,
/// `klantemail`, `huisadres`), unless what comes before is neutral (`bedrijfsnaam`).
const TAILS: &[(&str, Kind)] = &[
    ("naam", Kind::Name),
    ("adres", Kind::Address),
    ("email", Kind::Email),
    ("telefoon", Kind::Phone),
    ("telefoonnummer", Kind::Phone),
    ("postcode", Kind::Postcode),
    ("woonplaats", Kind::Address),
    ("geboortedatum", Kind::BirthDate),
    ("rekeningnummer", Kind::Iban),
    ("kenteken", Kind::LicensePlate),
    ("iban", Kind::Iban),
];

/// Words that make any name neutral: the column says something about the data, not the
/// data itself (`email_verified`, `phone_type`, `ip_version`, `aantal_adressen`).
const NEUTRAL: &[&str] = &[
    "verified",
    "verification",
    "geverifieerd",
    "confirmed",
    "bevestigd",
    "sent",
    "verzonden",
    "count",
    "counter",
    "aantal",
    "type",
    "soort",
    "template",
    "sjabloon",
    "opt",
    "optin",
    "optout",
    "consent",
    "toestemming",
    "enabled",
    "disabled",
    "status",
    "format",
    "formaat",
    "flag",
    "valid",
    "geldig",
    "bounce",
    "bounced",
    "bounces",
    "domain",
    "domein",
    "provider",
    "version",
    "versie",
    "model",
    "brand",
    "merk",
    "is",
    "has",
    "heeft",
    "allowed",
    "required",
    "verplicht",
    "length",
    "lengte",
    "label",
    "prefix",
    "country",
    "land",
    "landcode",
    "preference",
    "voorkeur",
];

/// Words that make a name or address word neutral: the name of a thing, not of a person
/// (`company_name`, `product_naam`, `file_name`, `server_address`).
const THINGS: &[&str] = &[
    "company",
    "bedrijf",
    "bedrijfs",
    "organisation",
    "organization",
    "organisatie",
    "firma",
    "product",
    "products",
    "artikel",
    "item",
    "file",
    "bestand",
    "bestands",
    "host",
    "server",
    "table",
    "tabel",
    "column",
    "kolom",
    "field",
    "veld",
    "app",
    "application",
    "campaign",
    "campagne",
    "event",
    "plan",
    "category",
    "categorie",
    "project",
    "shop",
    "store",
    "winkel",
    "team",
    "group",
    "groep",
    "role",
    "rol",
    "tag",
    "package",
    "module",
    "queue",
    "job",
    "task",
    "taak",
    "bank",
    "service",
    "dienst",
    "street",
    "city",
    "plaats",
    "stad",
    "page",
    "pagina",
    "source",
    "bron",
    "list",
    "lijst",
    "web",
    "url",
    "mac",
    "wallet",
    "contract",
    "invoice",
    "factuur",
    "order",
];

/// Splits a name into lower-case words: at `_`, `-`, spaces and other punctuation, at digits,
/// and where camelCase turns (`contactPhone`, `IPAddress` -> `ip`, `address`).
pub fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphabetic() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = i.checked_sub(1).and_then(|p| chars.get(p));
        let next = chars.get(i + 1);
        let turn = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase() || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
            });
        if turn && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn word(w: &str) -> Option<(Kind, f64)> {
    WORDS
        .iter()
        .find(|(text, _, _)| *text == w)
        .map(|(_, k, s)| (*k, *s))
}

fn is_thing(w: &str) -> bool {
    let stem = |s: &str| -> bool { THINGS.contains(&s) };
    stem(w)
        || w.strip_suffix('s').is_some_and(stem)
        || w.strip_suffix("en").is_some_and(stem)
        || w.strip_suffix("ies")
            .is_some_and(|s| stem(&format!("{s}y")))
}

/// A match of one run of words: its kind, strength and the words it used.
struct Hit {
    kind: Kind,
    strength: f64,
    start: usize,
    len: usize,
}

/// One word read as a Dutch compound: a known head or tail with the rest not neutral.
fn compound(w: &str) -> Option<(Kind, f64)> {
    for (head, kind) in HEADS {
        if w.len() > head.len() && w.starts_with(head) {
            return Some((*kind, 0.9));
        }
    }
    for (tail, kind) in TAILS {
        let Some(before) = w.strip_suffix(tail).filter(|b| b.len() >= 2) else {
            continue;
        };
        if is_thing(before) || NEUTRAL.contains(&before) {
            return None;
        }
        // `straatnaam`, `emailadres`: what comes first says what it is.
        if let Some((k, _)) = word(before).or_else(|| word(before.trim_end_matches('s'))) {
            return Some((k, 0.9));
        }
        return Some((*kind, 0.8));
    }
    None
}

/// What a column's name says about its content, if anything. `table` is the table's name:
/// a bare `name` in `products` names a product.
pub fn read(column: &str, table: &str) -> Option<NameMatch> {
    let ws = words(column);
    let mut hits: Vec<Hit> = Vec::new();
    let mut used = vec![false; ws.len()];
    // Longest runs first, so `email_adres` is one e-mail address, not an e-mail and an address.
    for len in (1..=4.min(ws.len())).rev() {
        for start in 0..=ws.len() - len {
            if used[start..start + len].iter().any(|u| *u) {
                continue;
            }
            let joined: String = ws[start..start + len].concat();
            let found = word(&joined).or_else(|| if len == 1 { compound(&joined) } else { None });
            if let Some((kind, strength)) = found {
                used[start..start + len].iter_mut().for_each(|u| *u = true);
                hits.push(Hit {
                    kind,
                    strength,
                    start,
                    len,
                });
            }
        }
    }
    let rest: Vec<&str> = ws
        .iter()
        .enumerate()
        .filter(|(i, _)| !used[*i])
        .map(|(_, w)| w.as_str())
        .collect();
    if rest.iter().any(|w| NEUTRAL.contains(w)) {
        return None;
    }
    let table_words = words(table);
    hits.retain(|h| {
        let bare = h.len == 1 && matches!(ws[h.start].as_str(), "name" | "naam");
        // Any other word of the column may name a thing: `city_name`, `company_address`.
        let thing = ws
            .iter()
            .enumerate()
            .any(|(i, w)| !(h.start..h.start + h.len).contains(&i) && is_thing(w));
        match h.kind {
            Kind::Name if thing => false,
            // A bare `name` in a table of things (`products.name`) names the thing.
            Kind::Name if bare => !table_words.iter().any(|w| is_thing(w)),
            Kind::Address if thing => false,
            _ => true,
        }
    });
    // With several kinds named, the most specific one (the order of `Kind`) wins.
    hits.sort_by(|a, b| a.kind.cmp(&b.kind).then(b.strength.total_cmp(&a.strength)));
    hits.first().map(|h| NameMatch {
        kind: h.kind,
        strength: h.strength,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(column: &str) -> Option<Kind> {
        read(column, "klanten").map(|m| m.kind)
    }

    #[test]
    fn splits_words() {
        assert_eq!(words("klant_email_adres"), ["klant", "email", "adres"]);
        assert_eq!(words("contactPhone"), ["contact", "phone"]);
        assert_eq!(words("IPAddress"), ["ip", "address"]);
        assert_eq!(words("ipv4_addr"), ["ipv", "addr"]);
        assert_eq!(words("E-mail Adres"), ["e", "mail", "adres"]);
        assert_eq!(words("dateOfBirth"), ["date", "of", "birth"]);
    }

    #[test]
    fn reads_dutch_and_english_names() {
        let cases = [
            ("klant_email_adres", Kind::Email),
            ("contactPhone", Kind::Phone),
            ("emailadres", Kind::Email),
            ("e_mail", Kind::Email),
            ("telefoonnummer", Kind::Phone),
            ("mobiel_nummer", Kind::Phone),
            ("voornaam", Kind::Name),
            ("achternaam", Kind::Name),
            ("klantnaam", Kind::Name),
            ("first_name", Kind::Name),
            ("straat", Kind::Address),
            ("straatnaam", Kind::Address),
            ("huisnummer", Kind::Address),
            ("woonplaats", Kind::Address),
            ("postcode", Kind::Postcode),
            ("zip_code", Kind::Postcode),
            ("geboortedatum", Kind::BirthDate),
            ("birth_date", Kind::BirthDate),
            ("date_of_birth", Kind::BirthDate),
            ("bsn", Kind::NationalId),
            ("iban", Kind::Iban),
            ("rekeningnummer", Kind::Iban),
            ("ip", Kind::IpAddress),
            ("ip_address", Kind::IpAddress),
            ("remoteAddr", Kind::IpAddress),
            ("kenteken", Kind::LicensePlate),
            ("credit_card_number", Kind::PaymentCard),
            ("medische_gegevens", Kind::Special),
            ("notes", Kind::FreeText),
            ("city_name", Kind::Address),
        ];
        for (column, expected) in cases {
            assert_eq!(kind(column), Some(expected), "{column}");
        }
    }

    #[test]
    fn neutral_names_stay_neutral() {
        for column in [
            "email_verified",
            "phone_model",
            "ip_version",
            "company_name",
            "bedrijfsnaam",
            "productnaam",
            "file_name",
            "aantal_adressen",
            "email_template",
            "company",
            "created_at",
            "status",
            "country_code",
            "server_address",
        ] {
            assert_eq!(kind(column), None, "{column}");
        }
        assert_eq!(read("name", "products"), None);
        assert_eq!(read("name", "customers").map(|m| m.kind), Some(Kind::Name));
    }
}
