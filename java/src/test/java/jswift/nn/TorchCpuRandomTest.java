package jswift.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import jswift.testing.Torch;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@link TorchCpuRandom} against libtorch's own CPU generator and uniform_, bit for bit. */
class TorchCpuRandomTest {
  @ParameterizedTest
  @CsvSource({"0, 5, -0.5, 0.5", "0, 3000, -0.1530931, 0.1530931", "42, 1000, 0, 1", "4294967297, 700, -2, 3"})
  void drawsWhatTorchDraws(long seed, int n, double from, double to) {
    Torch.load();
    Generator g = org.bytedeco.pytorch.global.torch.createCPUGenerator(seed);
    var t = org.bytedeco.pytorch.Tensor.create(new float[n], n).clone();  // float32, as PEFT draws
    t.uniform_(from, to, new GeneratorOptional(g));
    float[] want = Torch.floats(t);
    TorchCpuRandom r = new TorchCpuRandom(seed);
    assertArrayEquals(want, r.uniform(n, from, to), "seed " + seed);
    // and a second tensor from the same generator goes on from where the first stopped
    t.uniform_(from, to, new GeneratorOptional(g));
    assertArrayEquals(Torch.floats(t), r.uniform(n, from, to), "second draw, seed " + seed);
  }
}
