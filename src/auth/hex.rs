//! Lowercase hexadecimal, for the few places that print bytes as text:
//! Redis keys of the replay store, request ids, the dev key's temporary
//! file name.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends `bytes` to `out` as lowercase hex, two digits a byte, high
/// nibble first. Writes into the caller's string, so a key built with a
/// prefix costs one allocation.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
}

/// `bytes` as lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_become_two_lowercase_digits_each_high_nibble_first() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        let mut out = String::from("p:");
        push_hex(&mut out, &0x0123_4567_89ab_cdef_u64.to_be_bytes());
        assert_eq!(out, "p:0123456789abcdef");
        assert_eq!(hex(&[]), "");
    }
}
