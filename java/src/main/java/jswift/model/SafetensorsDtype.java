package jswift.model;

import jswift.tensor.DType;

/**
 * The element types a {@code .safetensors} header can name, in the order of the Rust library's {@code Dtype}
 * enum. That order matters for writing: safetensors lays tensors out by descending dtype (so every tensor's
 * bytes are aligned to its element size when the data section is) and then by name, and a file is only
 * byte-identical to {@code safetensors.torch.save_file}'s if it uses the same order. The order was checked
 * against safetensors 0.8.0 by saving one tensor of each dtype (scripts/make_safetensors_golden.py).
 *
 * <p>The sub-byte types (F4, F6_*) are left out: their byte count is not element count x size.
 */
public enum SafetensorsDtype {
  BOOL(1), U8(1), I8(1), F8_E5M2(1), F8_E4M3(1), F8_E8M0(1), F8_E4M3FNUZ(1), F8_E5M2FNUZ(1), I16(2), U16(2),
  F16(2), BF16(2), I32(4), U32(4), F32(4), C64(8), F64(8), I64(8), U64(8);

  private final int byteSize;

  SafetensorsDtype(int byteSize) {
    this.byteSize = byteSize;
  }

  public int byteSize() {
    return byteSize;
  }

  /** The type as written in a header ("F32", "BF16", ...). */
  public String headerName() {
    return name();
  }

  /** Parses a header name; throws for names safetensors does not define or jswift cannot size. */
  public static SafetensorsDtype parse(String headerName) {
    try {
      return valueOf(headerName);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown safetensors dtype '" + headerName + "' (expected one of "
          + java.util.Arrays.toString(values()) + ")");
    }
  }

  /** The safetensors type of a jswift dtype. */
  public static SafetensorsDtype of(DType dtype) {
    switch (dtype) {
      case F32: return F32;
      case BF16: return BF16;
      case F16: return F16;
      case I8: return I8;
      case U8: return U8;
      case I32: return I32;
      case I64: return I64;
      default: throw new IllegalArgumentException("no safetensors dtype for " + dtype);
    }
  }
}
