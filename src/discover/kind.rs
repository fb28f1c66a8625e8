//! What kind of personal data a column holds, and the category the report files it under.

crate::util::named_enum! {
    /// A kind of personal data.
    pub enum Kind {
        /// E-mail addresses.
        Email => "email",
        /// Telephone numbers.
        Phone => "phone",
        /// Names of people.
        Name => "name",
        /// Street addresses and places of residence.
        Address => "address",
        /// Dutch postcodes.
        Postcode => "postcode",
        /// Dates of birth.
        BirthDate => "birth_date",
        /// Citizen service numbers (BSN) and other national identity numbers.
        NationalId => "national_id",
        /// Passport, identity card and driving licence numbers.
        Document => "document",
        /// Licence plates.
        LicensePlate => "license_plate",
        /// Gender.
        Gender => "gender",
        /// Bank account numbers (IBAN).
        Iban => "iban",
        /// Payment card numbers.
        PaymentCard => "payment_card",
        /// IP addresses.
        IpAddress => "ip_address",
        /// Special categories (GDPR art. 9): health, religion, ethnicity, biometrics, and the
        /// like.
        Special => "special",
        /// Free text with e-mail addresses or telephone numbers in it.
        FreeText => "free_text",
    }
}

crate::util::named_enum! {
    /// The category a finding is filed under.
    pub enum Category {
        /// Ways to reach a person: e-mail, telephone, name, address.
        Contact => "contact",
        /// What identifies or describes a person: national numbers, documents, birth dates.
        Identifier => "identifier",
        /// Bank accounts and payment cards.
        Financial => "financial",
        /// Network identifiers: IP addresses.
        Network => "network",
        /// Special categories of personal data (GDPR art. 9).
        Special => "special",
    }
}

impl Kind {
    /// The category of this kind.
    pub fn category(self) -> Category {
        match self {
            Kind::Email | Kind::Phone | Kind::Name | Kind::Address | Kind::Postcode => {
                Category::Contact
            }
            Kind::FreeText => Category::Contact,
            Kind::BirthDate
            | Kind::NationalId
            | Kind::Document
            | Kind::LicensePlate
            | Kind::Gender => Category::Identifier,
            Kind::Iban | Kind::PaymentCard => Category::Financial,
            Kind::IpAddress => Category::Network,
            Kind::Special => Category::Special,
        }
    }

    /// True when the kind has a validator that checks a value (a checksum, a range or a
    /// format), so that values can confirm or contradict a column's name.
    pub fn validated(self) -> bool {
        matches!(
            self,
            Kind::Email
                | Kind::Phone
                | Kind::Postcode
                | Kind::BirthDate
                | Kind::NationalId
                | Kind::Iban
                | Kind::PaymentCard
                | Kind::IpAddress
        )
    }
}
