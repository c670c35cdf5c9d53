package jswift.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * The quant_state JSON as bitsandbytes writes it: {@code json.dumps} with Python's float repr of the float32
 * offset (expected strings printed by {@code repr(torch.tensor(x, dtype=torch.float32).item())}).
 */
class BnbCheckpointTest {
  @Test
  void offsetIsWrittenAsPythonReprOfTheFloat32() {
    assertEquals("1.25", BnbCheckpoint.pythonRepr(1.25f));
    assertEquals("0.0", BnbCheckpoint.pythonRepr(0f));
    assertEquals("9.999999747378752e-06", BnbCheckpoint.pythonRepr(1e-5f));
    assertEquals("0.10000000149011612", BnbCheckpoint.pythonRepr(0.1f));
    assertEquals("0.012299999594688416", BnbCheckpoint.pythonRepr(0.0123f));
    assertEquals("123456.703125", BnbCheckpoint.pythonRepr(123456.7f));
  }

  @Test
  void quantStateJsonHasBitsandbytesKeyOrderAndSeparators() {
    assertEquals("{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"bfloat16\", \"shape\": [896, 4864], "
        + "\"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": 0.012299999594688416}",
        new String(BnbCheckpoint.quantStateJson(896, 4864, "bfloat16", true, 0.0123f), StandardCharsets.UTF_8));
  }
}
