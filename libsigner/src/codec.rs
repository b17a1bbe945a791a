//! The Stacks consensus codec: the trait every wire type implements, integer and vector
//! encodings, the length limits the reference enforces, and a bounded reader.
//!
//! Every integer is big-endian. A `Vec<T>` is a `u32` item count followed by the items.
//! Decoders never require the end of input: trailing bytes are left unread.

use std::io::{self, Read, Write};

/// Largest payload of a p2p message (16 MiB plus one byte).
pub const MAX_PAYLOAD_LEN: u32 = 1 + 16 * 1024 * 1024;
/// Encoded size of the p2p preamble.
pub const PREAMBLE_ENCODED_SIZE: u32 = 165;
/// Encoded size of one relayer entry of a p2p message.
pub const RELAY_DATA_ENCODED_SIZE: u32 = 42;
/// Largest number of relayers a p2p message carries.
pub const MAX_RELAYERS_LEN: u32 = 16;
/// Largest encoded message: the allocation guard for vectors and the bound for blocks
/// (16,778,054 bytes).
pub const MAX_MESSAGE_LEN: u32 =
    MAX_PAYLOAD_LEN + PREAMBLE_ENCODED_SIZE + MAX_RELAYERS_LEN * RELAY_DATA_ENCODED_SIZE;
/// Largest encoded transaction (2 MiB); also the bound on contract-call arguments.
pub const MAX_TRANSACTION_LEN: u32 = 2 * 1024 * 1024;

/// Most items a decoder pre-allocates room for before it has read them; the vector grows as
/// items actually arrive, so a lying length prefix cannot force a large allocation.
const MAX_PREALLOCATED_ITEMS: usize = 4096;

/// Why encoding or decoding failed. The variants and their texts follow the reference.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The value cannot be encoded.
    #[error("{0}")]
    SerializeError(String),
    /// The underlying reader failed, including a premature end of input.
    #[error("{0}")]
    ReadError(#[source] io::Error),
    /// The bytes do not form a valid value.
    #[error("{0}")]
    DeserializeError(String),
    /// The underlying writer failed.
    #[error("{0}")]
    WriteError(#[source] io::Error),
    /// Not enough bytes to form the message.
    #[error("{0}")]
    UnderflowError(String),
    /// The message is too big.
    #[error("{0}")]
    OverflowError(String),
    /// An array has too many items.
    #[error("Array too long")]
    ArrayTooLong,
    /// Signing failed.
    #[error("{0}")]
    SigningError(String),
    /// Anything else.
    #[error("{0}")]
    GenericError(String),
}

/// A type with a consensus (wire) encoding.
///
/// `consensus_deserialize` reads exactly the bytes of one value and leaves the rest of the
/// input unread; it returns an error, never panics, on any input.
pub trait StacksMessageCodec: Sized {
    /// How many bytes the reference implementation reserves in memory per item when it
    /// decodes a vector of this type. A vector whose `count * ALLOC_GUARD_SIZE` exceeds
    /// [`MAX_MESSAGE_LEN`] is rejected before any item is read, exactly as the reference
    /// does, so the set of accepted inputs stays identical.
    const ALLOC_GUARD_SIZE: u64 = std::mem::size_of::<Self>() as u64;

    /// Writes the wire encoding of `self` to `fd`.
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), Error>;

    /// Reads one value from `fd`.
    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, Error>;

    /// The wire encoding of `self` as a byte vector.
    ///
    /// Encoding into memory only fails for values that cannot be encoded at all (for
    /// example a field over its size limit); such a value yields the bytes written up to the
    /// failure. Use [`StacksMessageCodec::consensus_serialize`] to see the error.
    fn serialize_to_vec(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        // Writing to a Vec cannot fail; only an unencodable value can, and that is
        // documented above.
        let _ = self.consensus_serialize(&mut bytes);
        bytes
    }
}

/// Writes `item` to `fd`.
pub fn write_next<T: StacksMessageCodec, W: Write>(fd: &mut W, item: &T) -> Result<(), Error> {
    item.consensus_serialize(fd)
}

/// Reads one `T` from `fd`.
pub fn read_next<T: StacksMessageCodec, R: Read>(fd: &mut R) -> Result<T, Error> {
    T::consensus_deserialize(fd)
}

/// How a vector's item count is checked.
enum CountRule {
    AtMost(u32),
    Exactly(u32),
}

fn read_vec_with<T: StacksMessageCodec, R: Read>(
    fd: &mut R,
    rule: CountRule,
) -> Result<Vec<T>, Error> {
    let count: u32 = read_next(fd)?;
    match rule {
        CountRule::AtMost(max) if count > max => {
            return Err(Error::DeserializeError(format!(
                "Array has too many items ({count} > {max})"
            )));
        }
        CountRule::Exactly(expected) if count != expected => {
            return Err(Error::DeserializeError(format!(
                "Array has incorrect number of items ({count} != {expected})"
            )));
        }
        _ => {}
    }
    let bytes = u128::from(T::ALLOC_GUARD_SIZE) * u128::from(count);
    if bytes > u128::from(MAX_MESSAGE_LEN) {
        return Err(Error::DeserializeError(format!(
            "Message occupies too many bytes (tried to allocate {}*{count}={bytes})",
            T::ALLOC_GUARD_SIZE
        )));
    }
    let mut items = Vec::with_capacity((count as usize).min(MAX_PREALLOCATED_ITEMS));
    for _ in 0..count {
        items.push(read_next(fd)?);
    }
    Ok(items)
}

/// Reads a vector of at most `max_items` items (`u32` count, then the items).
pub fn read_next_at_most<R: Read, T: StacksMessageCodec>(
    fd: &mut R,
    max_items: u32,
) -> Result<Vec<T>, Error> {
    read_vec_with(fd, CountRule::AtMost(max_items))
}

/// Reads a vector of exactly `num_items` items (`u32` count, then the items).
pub fn read_next_exact<R: Read, T: StacksMessageCodec>(
    fd: &mut R,
    num_items: u32,
) -> Result<Vec<T>, Error> {
    read_vec_with(fd, CountRule::Exactly(num_items))
}

/// Writes a byte slice as `u32 length || bytes`, the encoding of `Vec<u8>`.
pub fn write_length_prefixed<W: Write>(fd: &mut W, bytes: &[u8]) -> Result<(), Error> {
    let len = u32::try_from(bytes.len()).map_err(|_| {
        Error::SerializeError(format!("byte string of {} bytes is too long", bytes.len()))
    })?;
    write_next(fd, &len)?;
    fd.write_all(bytes).map_err(Error::WriteError)
}

/// Reads exactly `N` raw bytes.
pub fn read_array<const N: usize, R: Read>(fd: &mut R) -> Result<[u8; N], Error> {
    let mut buf = [0u8; N];
    fd.read_exact(&mut buf).map_err(Error::ReadError)?;
    Ok(buf)
}

/// Reads `len` raw bytes without trusting `len` for the allocation: the buffer grows only as
/// bytes arrive.
pub fn read_bytes<R: Read>(fd: &mut R, len: usize) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::with_capacity(len.min(64 * 1024));
    let read = fd
        .take(len as u64)
        .read_to_end(&mut buf)
        .map_err(Error::ReadError)?;
    if read != len {
        return Err(Error::ReadError(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "failed to fill whole buffer",
        )));
    }
    Ok(buf)
}

macro_rules! impl_codec_for_int {
    ($($t:ty),*) => {$(
        impl StacksMessageCodec for $t {
            fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), Error> {
                fd.write_all(&self.to_be_bytes()).map_err(Error::WriteError)
            }
            fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, Error> {
                Ok(<$t>::from_be_bytes(read_array(fd)?))
            }
        }
    )*};
}
impl_codec_for_int!(u8, u16, u32, u64, i64, u128, i128);

impl<const N: usize> StacksMessageCodec for [u8; N] {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), Error> {
        fd.write_all(self).map_err(Error::WriteError)
    }
    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, Error> {
        read_array(fd)
    }
}

impl<T: StacksMessageCodec> StacksMessageCodec for Vec<T> {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), Error> {
        let len = u32::try_from(self.len()).map_err(|_| Error::ArrayTooLong)?;
        write_next(fd, &len)?;
        for item in self {
            write_next(fd, item)?;
        }
        Ok(())
    }
    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, Error> {
        read_next_at_most(fd, u32::MAX)
    }
}

/// A reader that yields at most `max` bytes in total and then reports end of input, so a
/// decoder reading past the bound fails with `UnexpectedEof`.
#[derive(Debug)]
pub struct BoundReader<'a, R: Read> {
    inner: &'a mut R,
    remaining: u64,
    consumed: u64,
}

impl<'a, R: Read> BoundReader<'a, R> {
    /// Wraps `inner`, allowing at most `max` bytes to be read through it.
    pub fn from_reader(inner: &'a mut R, max: u64) -> Self {
        BoundReader {
            inner,
            remaining: max,
            consumed: 0,
        }
    }

    /// How many bytes have been read through this reader.
    pub fn num_read(&self) -> u64 {
        self.consumed
    }
}

impl<R: Read> Read for BoundReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let allowed = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if allowed == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..allowed])?;
        self.remaining -= n as u64;
        self.consumed += n as u64;
        Ok(n)
    }
}

/// Defines a `#[repr(u8)]` enum with `ALL`, `to_u8()` and `from_u8()`, the shape the
/// reference uses for its wire tags.
#[macro_export]
macro_rules! define_u8_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[repr(u8)]
        $vis enum $name {
            $($(#[$vmeta])* $variant = $value),*
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The wire byte of this variant.
            pub fn to_u8(&self) -> u8 {
                *self as u8
            }

            /// The variant with wire byte `value`, if there is one.
            pub fn from_u8(value: u8) -> Option<Self> {
                match value {
                    $($value => Some($name::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_big_endian() {
        assert_eq!(0x0102u16.serialize_to_vec(), vec![1, 2]);
        assert_eq!(0x01020304u32.serialize_to_vec(), vec![1, 2, 3, 4]);
        assert_eq!(
            u64::consensus_deserialize(&mut &[0, 0, 0, 0, 0, 0, 1, 0][..]).unwrap(),
            256
        );
    }

    #[test]
    fn max_message_len_matches_reference() {
        assert_eq!(MAX_MESSAGE_LEN, 16_778_054);
    }

    #[test]
    fn vec_of_bytes_round_trips_with_count_prefix() {
        let v: Vec<u8> = vec![9, 8, 7];
        let bytes = v.serialize_to_vec();
        assert_eq!(bytes, vec![0, 0, 0, 3, 9, 8, 7]);
        assert_eq!(
            Vec::<u8>::consensus_deserialize(&mut &bytes[..]).unwrap(),
            v
        );
    }

    #[test]
    fn huge_count_is_refused_before_reading() {
        let bytes = [0xff, 0xff, 0xff, 0xff];
        let err = Vec::<[u8; 65]>::consensus_deserialize(&mut &bytes[..]).unwrap_err();
        assert!(matches!(err, Error::DeserializeError(_)), "{err:?}");
    }

    #[test]
    fn count_within_guard_but_short_input_is_eof() {
        let bytes = [0x00, 0x10, 0x00, 0x00, 1, 2];
        let err = Vec::<u8>::consensus_deserialize(&mut &bytes[..]).unwrap_err();
        assert!(matches!(err, Error::ReadError(_)), "{err:?}");
    }

    #[test]
    fn exact_and_at_most_rules() {
        let bytes = [0, 0, 0, 2, 1, 2];
        assert!(read_next_exact::<_, u8>(&mut &bytes[..], 3).is_err());
        assert_eq!(
            read_next_exact::<_, u8>(&mut &bytes[..], 2).unwrap(),
            vec![1, 2]
        );
        assert!(read_next_at_most::<_, u8>(&mut &bytes[..], 1).is_err());
    }

    #[test]
    fn bound_reader_stops_at_bound() {
        let data = [1u8; 10];
        let mut src = &data[..];
        let mut bounded = BoundReader::from_reader(&mut src, 4);
        let mut buf = [0u8; 5];
        assert!(bounded.read_exact(&mut buf).is_err());
        let mut src = &data[..];
        let mut bounded = BoundReader::from_reader(&mut src, 4);
        let mut buf = [0u8; 4];
        bounded.read_exact(&mut buf).unwrap();
        assert_eq!(bounded.num_read(), 4);
    }

    #[test]
    fn read_bytes_does_not_trust_length() {
        let data = [1u8; 3];
        assert!(read_bytes(&mut &data[..], usize::MAX / 2).is_err());
        assert_eq!(read_bytes(&mut &data[..], 2).unwrap(), vec![1, 1]);
    }
}
