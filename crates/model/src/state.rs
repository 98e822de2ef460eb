//! States and regional economic integration organisations, named by code.
//!
//! [`StateCode`] checks only the shape of a code. Whether a code is assigned,
//! what it is called and whether it names a State or a regional economic
//! integration organisation (REIO) comes from the catalogue at the end of this
//! file: the ISO 3166-1 alpha-2 list with its English short names, plus the
//! REIOs that can become parties to the Convention (Art. 64).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A party's code: an ISO 3166-1 alpha-2 code for a State (`FR`, `DE`), or the
/// code of a regional economic integration organisation (`EU`).
///
/// The type guarantees the shape (two ASCII capital letters); whether the code
/// is assigned is checked against the catalogue in this module.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StateCode([u8; 2]);

/// Why a text is not a party code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateCodeError {
    #[error("{0:?} is not a two-letter ISO 3166-1 alpha-2 code (two capital letters, such as FR)")]
    Shape(String),
}

impl StateCode {
    /// The code as text.
    pub fn as_str(&self) -> &str {
        // The constructor admits only ASCII capitals, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// The English short name of the State or organisation, if the code is in
    /// the catalogue.
    pub fn name(&self) -> Option<&'static str> {
        lookup(*self).map(|entry| entry.name)
    }

    /// Whether the code is assigned: an ISO 3166-1 alpha-2 code or a known REIO.
    ///
    /// Parsing a code checks only its shape; validators call this as well.
    pub fn is_known(&self) -> bool {
        lookup(*self).is_some()
    }

    /// Whether the code names a State or a REIO; `None` if it is not in the
    /// catalogue.
    pub fn party_kind(&self) -> Option<PartyKind> {
        lookup(*self).map(|entry| entry.kind)
    }

    /// The name if known, otherwise the code itself: for messages.
    pub fn display_name(&self) -> String {
        match self.name() {
            Some(name) => name.to_owned(),
            None => format!("{self} (not in the catalogue)"),
        }
    }
}

/// What kind of party a code names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartyKind {
    /// A code from ISO 3166-1. The list also holds territories that are not
    /// States; the catalogue records the code, it does not judge statehood.
    State,
    /// A regional economic integration organisation (Art. 2 definition; it may
    /// sign and deposit under Art. 64, but its instrument is not counted in
    /// addition to those of its member States under Art. 65).
    Reio,
}

impl fmt::Display for PartyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PartyKind::State => "State",
            PartyKind::Reio => "REIO",
        })
    }
}

/// One line of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatalogueEntry {
    pub code: StateCode,
    /// English short name.
    pub name: &'static str,
    pub kind: PartyKind,
}

/// Every code in the catalogue: the ISO 3166-1 list in code order, then the
/// REIOs in code order.
pub fn catalogue() -> impl Iterator<Item = CatalogueEntry> {
    let states = ISO_3166_1.iter().map(|(code, name)| CatalogueEntry {
        code: StateCode(*code),
        name,
        kind: PartyKind::State,
    });
    let reios = REIOS.iter().map(|(code, name)| CatalogueEntry {
        code: StateCode(*code),
        name,
        kind: PartyKind::Reio,
    });
    states.chain(reios)
}

fn lookup(code: StateCode) -> Option<CatalogueEntry> {
    let find = |table: &'static [([u8; 2], &'static str)], kind| {
        table
            .binary_search_by(|(c, _)| c.cmp(&code.0))
            .ok()
            .map(|i| CatalogueEntry {
                code,
                name: table[i].1,
                kind,
            })
    };
    find(ISO_3166_1, PartyKind::State).or_else(|| find(REIOS, PartyKind::Reio))
}

impl FromStr for StateCode {
    type Err = StateCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(StateCode([b[0], b[1]]))
        } else {
            Err(StateCodeError::Shape(s.to_owned()))
        }
    }
}

impl TryFrom<String> for StateCode {
    type Error = StateCodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<StateCode> for String {
    fn from(c: StateCode) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for StateCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for StateCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateCode({})", self.as_str())
    }
}

/// Regional economic integration organisations that can become parties,
/// sorted by code. `EU` is an exceptionally reserved ISO 3166-1 code, so it
/// cannot clash with a State.
const REIOS: &[([u8; 2], &str)] = &[(*b"EU", "European Union")];

/// ISO 3166-1 alpha-2 codes with their English short names, sorted by code
/// (the order matters: lookups search this table by halves).
#[rustfmt::skip]
const ISO_3166_1: &[([u8; 2], &str)] = &[
    (*b"AD", "Andorra"),
    (*b"AE", "United Arab Emirates"),
    (*b"AF", "Afghanistan"),
    (*b"AG", "Antigua and Barbuda"),
    (*b"AI", "Anguilla"),
    (*b"AL", "Albania"),
    (*b"AM", "Armenia"),
    (*b"AO", "Angola"),
    (*b"AQ", "Antarctica"),
    (*b"AR", "Argentina"),
    (*b"AS", "American Samoa"),
    (*b"AT", "Austria"),
    (*b"AU", "Australia"),
    (*b"AW", "Aruba"),
    (*b"AX", "Åland Islands"),
    (*b"AZ", "Azerbaijan"),
    (*b"BA", "Bosnia and Herzegovina"),
    (*b"BB", "Barbados"),
    (*b"BD", "Bangladesh"),
    (*b"BE", "Belgium"),
    (*b"BF", "Burkina Faso"),
    (*b"BG", "Bulgaria"),
    (*b"BH", "Bahrain"),
    (*b"BI", "Burundi"),
    (*b"BJ", "Benin"),
    (*b"BL", "Saint Barthélemy"),
    (*b"BM", "Bermuda"),
    (*b"BN", "Brunei Darussalam"),
    (*b"BO", "Bolivia, Plurinational State of"),
    (*b"BQ", "Bonaire, Sint Eustatius and Saba"),
    (*b"BR", "Brazil"),
    (*b"BS", "Bahamas"),
    (*b"BT", "Bhutan"),
    (*b"BV", "Bouvet Island"),
    (*b"BW", "Botswana"),
    (*b"BY", "Belarus"),
    (*b"BZ", "Belize"),
    (*b"CA", "Canada"),
    (*b"CC", "Cocos (Keeling) Islands"),
    (*b"CD", "Congo, The Democratic Republic of the"),
    (*b"CF", "Central African Republic"),
    (*b"CG", "Congo"),
    (*b"CH", "Switzerland"),
    (*b"CI", "Côte d'Ivoire"),
    (*b"CK", "Cook Islands"),
    (*b"CL", "Chile"),
    (*b"CM", "Cameroon"),
    (*b"CN", "China"),
    (*b"CO", "Colombia"),
    (*b"CR", "Costa Rica"),
    (*b"CU", "Cuba"),
    (*b"CV", "Cabo Verde"),
    (*b"CW", "Curaçao"),
    (*b"CX", "Christmas Island"),
    (*b"CY", "Cyprus"),
    (*b"CZ", "Czechia"),
    (*b"DE", "Germany"),
    (*b"DJ", "Djibouti"),
    (*b"DK", "Denmark"),
    (*b"DM", "Dominica"),
    (*b"DO", "Dominican Republic"),
    (*b"DZ", "Algeria"),
    (*b"EC", "Ecuador"),
    (*b"EE", "Estonia"),
    (*b"EG", "Egypt"),
    (*b"EH", "Western Sahara"),
    (*b"ER", "Eritrea"),
    (*b"ES", "Spain"),
    (*b"ET", "Ethiopia"),
    (*b"FI", "Finland"),
    (*b"FJ", "Fiji"),
    (*b"FK", "Falkland Islands (Malvinas)"),
    (*b"FM", "Micronesia, Federated States of"),
    (*b"FO", "Faroe Islands"),
    (*b"FR", "France"),
    (*b"GA", "Gabon"),
    (*b"GB", "United Kingdom"),
    (*b"GD", "Grenada"),
    (*b"GE", "Georgia"),
    (*b"GF", "French Guiana"),
    (*b"GG", "Guernsey"),
    (*b"GH", "Ghana"),
    (*b"GI", "Gibraltar"),
    (*b"GL", "Greenland"),
    (*b"GM", "Gambia"),
    (*b"GN", "Guinea"),
    (*b"GP", "Guadeloupe"),
    (*b"GQ", "Equatorial Guinea"),
    (*b"GR", "Greece"),
    (*b"GS", "South Georgia and the South Sandwich Islands"),
    (*b"GT", "Guatemala"),
    (*b"GU", "Guam"),
    (*b"GW", "Guinea-Bissau"),
    (*b"GY", "Guyana"),
    (*b"HK", "Hong Kong"),
    (*b"HM", "Heard Island and McDonald Islands"),
    (*b"HN", "Honduras"),
    (*b"HR", "Croatia"),
    (*b"HT", "Haiti"),
    (*b"HU", "Hungary"),
    (*b"ID", "Indonesia"),
    (*b"IE", "Ireland"),
    (*b"IL", "Israel"),
    (*b"IM", "Isle of Man"),
    (*b"IN", "India"),
    (*b"IO", "British Indian Ocean Territory"),
    (*b"IQ", "Iraq"),
    (*b"IR", "Iran, Islamic Republic of"),
    (*b"IS", "Iceland"),
    (*b"IT", "Italy"),
    (*b"JE", "Jersey"),
    (*b"JM", "Jamaica"),
    (*b"JO", "Jordan"),
    (*b"JP", "Japan"),
    (*b"KE", "Kenya"),
    (*b"KG", "Kyrgyzstan"),
    (*b"KH", "Cambodia"),
    (*b"KI", "Kiribati"),
    (*b"KM", "Comoros"),
    (*b"KN", "Saint Kitts and Nevis"),
    (*b"KP", "Korea, Democratic People's Republic of"),
    (*b"KR", "Korea, Republic of"),
    (*b"KW", "Kuwait"),
    (*b"KY", "Cayman Islands"),
    (*b"KZ", "Kazakhstan"),
    (*b"LA", "Lao People's Democratic Republic"),
    (*b"LB", "Lebanon"),
    (*b"LC", "Saint Lucia"),
    (*b"LI", "Liechtenstein"),
    (*b"LK", "Sri Lanka"),
    (*b"LR", "Liberia"),
    (*b"LS", "Lesotho"),
    (*b"LT", "Lithuania"),
    (*b"LU", "Luxembourg"),
    (*b"LV", "Latvia"),
    (*b"LY", "Libya"),
    (*b"MA", "Morocco"),
    (*b"MC", "Monaco"),
    (*b"MD", "Moldova, Republic of"),
    (*b"ME", "Montenegro"),
    (*b"MF", "Saint Martin (French part)"),
    (*b"MG", "Madagascar"),
    (*b"MH", "Marshall Islands"),
    (*b"MK", "North Macedonia"),
    (*b"ML", "Mali"),
    (*b"MM", "Myanmar"),
    (*b"MN", "Mongolia"),
    (*b"MO", "Macao"),
    (*b"MP", "Northern Mariana Islands"),
    (*b"MQ", "Martinique"),
    (*b"MR", "Mauritania"),
    (*b"MS", "Montserrat"),
    (*b"MT", "Malta"),
    (*b"MU", "Mauritius"),
    (*b"MV", "Maldives"),
    (*b"MW", "Malawi"),
    (*b"MX", "Mexico"),
    (*b"MY", "Malaysia"),
    (*b"MZ", "Mozambique"),
    (*b"NA", "Namibia"),
    (*b"NC", "New Caledonia"),
    (*b"NE", "Niger"),
    (*b"NF", "Norfolk Island"),
    (*b"NG", "Nigeria"),
    (*b"NI", "Nicaragua"),
    (*b"NL", "Netherlands"),
    (*b"NO", "Norway"),
    (*b"NP", "Nepal"),
    (*b"NR", "Nauru"),
    (*b"NU", "Niue"),
    (*b"NZ", "New Zealand"),
    (*b"OM", "Oman"),
    (*b"PA", "Panama"),
    (*b"PE", "Peru"),
    (*b"PF", "French Polynesia"),
    (*b"PG", "Papua New Guinea"),
    (*b"PH", "Philippines"),
    (*b"PK", "Pakistan"),
    (*b"PL", "Poland"),
    (*b"PM", "Saint Pierre and Miquelon"),
    (*b"PN", "Pitcairn"),
    (*b"PR", "Puerto Rico"),
    (*b"PS", "Palestine, State of"),
    (*b"PT", "Portugal"),
    (*b"PW", "Palau"),
    (*b"PY", "Paraguay"),
    (*b"QA", "Qatar"),
    (*b"RE", "Réunion"),
    (*b"RO", "Romania"),
    (*b"RS", "Serbia"),
    (*b"RU", "Russian Federation"),
    (*b"RW", "Rwanda"),
    (*b"SA", "Saudi Arabia"),
    (*b"SB", "Solomon Islands"),
    (*b"SC", "Seychelles"),
    (*b"SD", "Sudan"),
    (*b"SE", "Sweden"),
    (*b"SG", "Singapore"),
    (*b"SH", "Saint Helena, Ascension and Tristan da Cunha"),
    (*b"SI", "Slovenia"),
    (*b"SJ", "Svalbard and Jan Mayen"),
    (*b"SK", "Slovakia"),
    (*b"SL", "Sierra Leone"),
    (*b"SM", "San Marino"),
    (*b"SN", "Senegal"),
    (*b"SO", "Somalia"),
    (*b"SR", "Suriname"),
    (*b"SS", "South Sudan"),
    (*b"ST", "Sao Tome and Principe"),
    (*b"SV", "El Salvador"),
    (*b"SX", "Sint Maarten (Dutch part)"),
    (*b"SY", "Syrian Arab Republic"),
    (*b"SZ", "Eswatini"),
    (*b"TC", "Turks and Caicos Islands"),
    (*b"TD", "Chad"),
    (*b"TF", "French Southern Territories"),
    (*b"TG", "Togo"),
    (*b"TH", "Thailand"),
    (*b"TJ", "Tajikistan"),
    (*b"TK", "Tokelau"),
    (*b"TL", "Timor-Leste"),
    (*b"TM", "Turkmenistan"),
    (*b"TN", "Tunisia"),
    (*b"TO", "Tonga"),
    (*b"TR", "Türkiye"),
    (*b"TT", "Trinidad and Tobago"),
    (*b"TV", "Tuvalu"),
    (*b"TW", "Taiwan, Province of China"),
    (*b"TZ", "Tanzania, United Republic of"),
    (*b"UA", "Ukraine"),
    (*b"UG", "Uganda"),
    (*b"UM", "United States Minor Outlying Islands"),
    (*b"US", "United States"),
    (*b"UY", "Uruguay"),
    (*b"UZ", "Uzbekistan"),
    (*b"VA", "Holy See (Vatican City State)"),
    (*b"VC", "Saint Vincent and the Grenadines"),
    (*b"VE", "Venezuela, Bolivarian Republic of"),
    (*b"VG", "Virgin Islands, British"),
    (*b"VI", "Virgin Islands, U.S."),
    (*b"VN", "Viet Nam"),
    (*b"VU", "Vanuatu"),
    (*b"WF", "Wallis and Futuna"),
    (*b"WS", "Samoa"),
    (*b"YE", "Yemen"),
    (*b"YT", "Mayotte"),
    (*b"ZA", "South Africa"),
    (*b"ZM", "Zambia"),
    (*b"ZW", "Zimbabwe"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> StateCode {
        s.parse().unwrap()
    }

    #[test]
    fn tables_are_sorted_without_duplicates() {
        for table in [ISO_3166_1, REIOS] {
            for pair in table.windows(2) {
                assert!(pair[0].0 < pair[1].0, "{:?} before {:?}", pair[0], pair[1]);
            }
        }
        assert_eq!(ISO_3166_1.len(), 249);
    }

    #[test]
    fn every_catalogue_code_has_the_shape_a_parse_accepts() {
        for entry in catalogue() {
            assert_eq!(entry.code.as_str().parse::<StateCode>(), Ok(entry.code));
            assert!(!entry.name.is_empty());
            assert_eq!(entry.code.name(), Some(entry.name));
        }
    }

    #[test]
    fn reio_codes_are_not_iso_codes() {
        for (reio, _) in REIOS {
            assert!(ISO_3166_1.iter().all(|(c, _)| c != reio));
        }
    }

    #[test]
    fn names_and_kinds() {
        assert_eq!(code("FR").name(), Some("France"));
        assert_eq!(code("VN").name(), Some("Viet Nam"));
        assert_eq!(code("AD").name(), Some("Andorra"));
        assert_eq!(code("ZW").name(), Some("Zimbabwe"));
        assert_eq!(code("FR").party_kind(), Some(PartyKind::State));
        assert_eq!(code("EU").party_kind(), Some(PartyKind::Reio));
        assert_eq!(code("EU").name(), Some("European Union"));
    }

    #[test]
    fn unknown_codes_parse_but_are_not_known() {
        let xx = code("XX");
        assert!(!xx.is_known());
        assert_eq!(xx.name(), None);
        assert_eq!(xx.party_kind(), None);
        assert_eq!(xx.display_name(), "XX (not in the catalogue)");
        assert!(code("DE").is_known());
    }

    #[test]
    fn shape_errors() {
        for bad in ["fr", "F", "FRA", "F1", "", "ÉU"] {
            assert!(bad.parse::<StateCode>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serde_as_string() {
        let json = serde_json::to_string(&code("EU")).unwrap();
        assert_eq!(json, "\"EU\"");
        let back: StateCode = serde_json::from_str(&json).unwrap();
        assert_eq!(back, code("EU"));
        assert!(serde_json::from_str::<StateCode>("\"eu\"").is_err());
    }
}
