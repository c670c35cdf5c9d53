package jswift.tensor;

import java.util.Locale;

/** Element types. {@link #code()} is the number the C ABI uses (JSW_F32 = 0, ...). */
public enum DType {
  F32(0, 4, true, "float32"),
  BF16(1, 2, true, "bfloat16"),
  F16(2, 2, true, "float16"),
  I8(3, 1, false, "int8"),
  U8(4, 1, false, "uint8"),
  I32(5, 4, false, "int32"),
  I64(6, 8, false, "int64");

  private final int code;
  private final int byteSize;
  private final boolean floating;
  private final String torchName;

  DType(int code, int byteSize, boolean floating, String torchName) {
    this.code = code;
    this.byteSize = byteSize;
    this.floating = floating;
    this.torchName = torchName;
  }

  public int code() {
    return code;
  }

  public int byteSize() {
    return byteSize;
  }

  public boolean isFloatingPoint() {
    return floating;
  }

  /** The name PyTorch and Hugging Face configs use ("bfloat16", ...). */
  public String torchName() {
    return torchName;
  }

  /** Parses "f32"/"fp32"/"float32"/"float", "bf16"/"bfloat16", "f16"/"fp16"/"float16"/"half", and the integer names. */
  public static DType parse(String s) {
    switch (s.trim().toLowerCase(Locale.ROOT)) {
      case "f32": case "fp32": case "float32": case "float": return F32;
      case "bf16": case "bfloat16": return BF16;
      case "f16": case "fp16": case "float16": case "half": return F16;
      case "i8": case "int8": return I8;
      case "u8": case "uint8": return U8;
      case "i32": case "int32": return I32;
      case "i64": case "int64": return I64;
      default: throw new IllegalArgumentException("unknown dtype '" + s + "': use float32, bfloat16, float16");
    }
  }
}
