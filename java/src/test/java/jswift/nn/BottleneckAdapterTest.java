package jswift.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/**
 * The bottleneck adapter y + linear2(act(linear1(y))): forward, the input's gradient and the four parameter
 * gradients against torch autograd, for the exact GELU (ms-swift's default act_layer) and ReLU; and its
 * initialisation (ms-swift's: Xavier-uniform weights, N(0, 1e-6) biases).
 */
class BottleneckAdapterTest {
  private static void matchesTorch(Activation act) {
    int n = 5, hidden = 12, length = 7;
    float[] y = Rand.normal((long) n * hidden, 1), w1 = Rand.normal((long) length * hidden, 2, 0.3f),
        b1 = Rand.normal(length, 3, 0.1f), w2 = Rand.normal((long) hidden * length, 4, 0.3f),
        b2 = Rand.normal(hidden, 5, 0.1f), g = Rand.normal((long) n * hidden, 6);
    BottleneckAdapter adapter = new BottleneckAdapter(
        BottleneckAdapter.param("linear1.weight", w1, DType.F32, Device.CPU, length, hidden),
        BottleneckAdapter.param("linear1.bias", b1, DType.F32, Device.CPU, length),
        BottleneckAdapter.param("linear2.weight", w2, DType.F32, Device.CPU, hidden, length),
        BottleneckAdapter.param("linear2.bias", b2, DType.F32, Device.CPU, hidden), act);
    try (adapter; Arena a = new Arena()) {
      adapter.parameters().forEach(p -> p.setTrainable(true));
      Tensor ty = a.allocate(DType.F32, Device.CPU, n, hidden);
      ty.copyFrom(y);
      BottleneckAdapter.Saved s = new BottleneckAdapter.Saved();
      Tensor out = adapter.forward(a, ty, s);
      Tensor dOut = a.allocate(DType.F32, Device.CPU, n, hidden);
      dOut.copyFrom(g);
      Tensor dy = adapter.backward(a, dOut, s);

      org.bytedeco.pytorch.Tensor py = Torch.param(y, n, hidden), pw1 = Torch.param(w1, length, hidden),
          pb1 = Torch.param(b1, length), pw2 = Torch.param(w2, hidden, length), pb2 = Torch.param(b2, hidden);
      org.bytedeco.pytorch.Tensor h = torch.matmul(py, pw1.t()).add(pb1);
      org.bytedeco.pytorch.Tensor activated = act == Activation.GELU
          ? h.mul(Torch.scalar(0.5)).mul(torch.erf(h.mul(Torch.scalar(1 / Math.sqrt(2)))).add(Torch.scalar(1)))
          : torch.relu(h);
      org.bytedeco.pytorch.Tensor tout = py.add(torch.matmul(activated, pw2.t()).add(pb2));
      Torch.dot(tout, Torch.tensor(g, n, hidden)).backward();
      Assert.close("out", out.toFloatArray(), Torch.floats(tout), 1e-5, 1e-5);
      Assert.close("dy", dy.toFloatArray(), Torch.floats(py.grad()), 1e-5, 1e-5);
      Assert.close("dW1", adapter.parameters().get(0).grad().toFloatArray(), Torch.floats(pw1.grad()), 1e-5, 1e-5);
      Assert.close("db1", adapter.parameters().get(1).grad().toFloatArray(), Torch.floats(pb1.grad()), 1e-5, 1e-5);
      Assert.close("dW2", adapter.parameters().get(2).grad().toFloatArray(), Torch.floats(pw2.grad()), 1e-5, 1e-5);
      Assert.close("db2", adapter.parameters().get(3).grad().toFloatArray(), Torch.floats(pb2.grad()), 1e-5, 1e-5);
    }
  }

  @Test
  void geluAdapterMatchesTorch() {
    matchesTorch(Activation.GELU);
  }

  @Test
  void reluAdapterMatchesTorch() {
    matchesTorch(Activation.RELU);
  }

  @Test
  void initialisedAsMsSwiftDoes() {
    int hidden = 64, length = 32;
    try (BottleneckAdapter b = BottleneckAdapter.initialised("p.", hidden, length, Activation.GELU, 7, DType.F32,
        Device.CPU)) {
      double bound = Math.sqrt(6.0 / (hidden + length));
      for (int i : new int[] {0, 2}) {
        float[] w = b.parameters().get(i).value().toFloatArray();
        double max = 0, sumSq = 0;
        for (float v : w) {
          max = Math.max(max, Math.abs(v));
          sumSq += v * v;
        }
        assertTrue(max <= bound && max > 0.9 * bound, "Xavier-uniform within +-" + bound + ": " + max);
        // a uniform on [-b, b] has variance b^2 / 3
        assertEquals(bound * bound / 3, sumSq / w.length, 0.1 * bound * bound / 3);
      }
      for (int i : new int[] {1, 3})
        for (float v : b.parameters().get(i).value().toFloatArray()) assertTrue(Math.abs(v) < 1e-5, "bias " + v);
      assertEquals("p.linear2.bias", b.parameters().get(3).name());
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Activation.parse("gelu2"));
    assertTrue(e.getMessage().contains("gelu_new"), e.getMessage());
  }
}
