//! A serde serialiser that writes nothing and only checks: it refuses
//! non-finite floats anywhere in a value (which JSON serialisers quietly turn
//! into `null` when nested) and integers outside ±(2^53−1) (which RFC 8785
//! would round), naming the path of the offending field (`$.a[3].b`).

use std::fmt;

use serde::ser::{self, Serialize};

use super::MAX_SAFE_INTEGER;
use crate::SealError;

/// Checks `value`; the error names the first offending field.
pub(super) fn check<T: Serialize + ?Sized>(value: &T) -> std::result::Result<(), SealError> {
    let mut path = String::from("$");
    value
        .serialize(Checker { path: &mut path })
        .map_err(|e| SealError::Canonicalization(e.0))
}

#[derive(Debug)]
pub(super) struct CheckError(String);

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CheckError {}

impl ser::Error for CheckError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

type Result<T = ()> = std::result::Result<T, CheckError>;

struct Checker<'a> {
    path: &'a mut String,
}

impl Checker<'_> {
    fn int(&self, magnitude: u128, shown: &dyn fmt::Display) -> Result {
        if magnitude > u128::from(MAX_SAFE_INTEGER) {
            return Err(CheckError(format!(
                "integer {shown} at {} is outside ±(2^53−1) and would be rounded; \
                 send it as a string",
                self.path
            )));
        }
        Ok(())
    }

    fn float(&self, value: f64) -> Result {
        if !value.is_finite() {
            return Err(CheckError(format!(
                "number {value} at {} is not finite; JSON has no NaN or infinity",
                self.path
            )));
        }
        Ok(())
    }
}

/// Serialises `value` one level below `path`, restoring the path afterwards.
fn child<T: Serialize + ?Sized>(path: &mut String, step: fmt::Arguments<'_>, value: &T) -> Result {
    let len = path.len();
    fmt::Write::write_fmt(path, step).map_err(|e| CheckError(e.to_string()))?;
    let outcome = value.serialize(Checker { path: &mut *path });
    path.truncate(len);
    outcome
}

impl<'a> ser::Serializer for Checker<'a> {
    type Ok = ();
    type Error = CheckError;
    type SerializeSeq = Items<'a>;
    type SerializeTuple = Items<'a>;
    type SerializeTupleStruct = Items<'a>;
    type SerializeTupleVariant = Items<'a>;
    type SerializeMap = Members<'a>;
    type SerializeStruct = Members<'a>;
    type SerializeStructVariant = Members<'a>;

    fn serialize_bool(self, _: bool) -> Result {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Result {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Result {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Result {
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result {
        self.int(u128::from(v.unsigned_abs()), &v)
    }
    fn serialize_i128(self, v: i128) -> Result {
        self.int(v.unsigned_abs(), &v)
    }
    fn serialize_u8(self, _: u8) -> Result {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Result {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Result {
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result {
        self.int(u128::from(v), &v)
    }
    fn serialize_u128(self, v: u128) -> Result {
        self.int(v, &v)
    }
    fn serialize_f32(self, v: f32) -> Result {
        self.float(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result {
        self.float(v)
    }
    fn serialize_char(self, _: char) -> Result {
        Ok(())
    }
    fn serialize_str(self, _: &str) -> Result {
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result {
        Ok(())
    }
    fn serialize_none(self) -> Result {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        child(self.path, format_args!(".{variant}"), value)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Items<'a>> {
        Ok(Items {
            path: self.path,
            next: 0,
        })
    }
    fn serialize_tuple(self, _: usize) -> Result<Items<'a>> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Items<'a>> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Items<'a>> {
        self.path.push('.');
        self.path.push_str(variant);
        self.serialize_seq(None)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Members<'a>> {
        Ok(Members {
            path: self.path,
            key: String::new(),
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Members<'a>> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Members<'a>> {
        self.path.push('.');
        self.path.push_str(variant);
        self.serialize_map(None)
    }
}

/// Elements of arrays, tuples and tuple variants.
struct Items<'a> {
    path: &'a mut String,
    next: usize,
}

impl Items<'_> {
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        let index = self.next;
        self.next += 1;
        child(self.path, format_args!("[{index}]"), value)
    }
}

impl ser::SerializeSeq for Items<'_> {
    type Ok = ();
    type Error = CheckError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.item(value)
    }
    fn end(self) -> Result {
        Ok(())
    }
}

impl ser::SerializeTuple for Items<'_> {
    type Ok = ();
    type Error = CheckError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.item(value)
    }
    fn end(self) -> Result {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Items<'_> {
    type Ok = ();
    type Error = CheckError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.item(value)
    }
    fn end(self) -> Result {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Items<'_> {
    type Ok = ();
    type Error = CheckError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.item(value)
    }
    fn end(self) -> Result {
        Ok(())
    }
}

/// Members of maps, structs and struct variants.
struct Members<'a> {
    path: &'a mut String,
    key: String,
}

impl ser::SerializeMap for Members<'_> {
    type Ok = ();
    type Error = CheckError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        // Only used to name the path; whether the key is acceptable at all
        // is the canonicaliser's call.
        self.key = serde_json::to_value(key)
            .ok()
            .and_then(|k| match k {
                serde_json::Value::String(s) => Some(s),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .unwrap_or_else(|| "?".to_owned());
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        child(self.path, format_args!(".{}", self.key), value)
    }
    fn end(self) -> Result {
        Ok(())
    }
}

impl ser::SerializeStruct for Members<'_> {
    type Ok = ();
    type Error = CheckError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> Result {
        child(self.path, format_args!(".{name}"), value)
    }
    fn end(self) -> Result {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Members<'_> {
    type Ok = ();
    type Error = CheckError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> Result {
        child(self.path, format_args!(".{name}"), value)
    }
    fn end(self) -> Result {
        Ok(())
    }
}
