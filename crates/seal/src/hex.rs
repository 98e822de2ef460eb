//! Lower-case hexadecimal encoding for key ids and content ids (encoding
//! only: nothing in this crate parses hex from outside input).

/// Writes `bytes` as lower-case hexadecimal, two digits per byte.
pub(crate) fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_every_nibble() {
        assert_eq!(
            super::encode(&[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]),
            "0123456789abcdef"
        );
        assert_eq!(super::encode(&[]), "");
        assert_eq!(super::encode(&[0xff, 0x00]), "ff00");
    }
}
