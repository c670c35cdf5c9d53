package jswift.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
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
 * pyreft's six interventions, written as pyreft writes them in torch (R a leaf there; its gradient is carried to the
 * Householder parameter by {@link HouseholderRotation#gradient}, itself checked against torch's parametrization):
 * output, the input's gradient and every trained tensor's gradient.
 */
class ReftInterventionTest {
  private static final int N = 6, HIDDEN = 10, RANK = 3;

  private static void matchesPyreft(ReftIntervention.Kind kind, Activation act, boolean addBias) {
    ReftIntervention r = ReftIntervention.initialised("l.", kind, HIDDEN, RANK, act, 0f, addBias, 5, DType.F32,
        Device.CPU);
    try (r; Arena a = new Arena()) {
      r.parameters().forEach(p -> p.setTrainable(true));
      // move A off zero so the rotation is not its starting point
      if (kind.orthogonal) param(r, ReftIntervention.ROTATION).value().copyFrom(Rand.normal(HIDDEN * RANK, 9, 0.3f));
      float[] h = Rand.normal(N * HIDDEN, 1), g = Rand.normal(N * HIDDEN, 2);
      Tensor th = a.allocate(DType.F32, Device.CPU, N, HIDDEN);
      th.copyFrom(h);
      ReftIntervention.Saved s = new ReftIntervention.Saved();
      Tensor out = r.forward(a, th, s, 0);
      Tensor dOut = a.allocate(DType.F32, Device.CPU, N, HIDDEN);
      dOut.copyFrom(g);
      Tensor dh = r.backward(a, dOut, s);

      org.bytedeco.pytorch.Tensor ph = Torch.param(h, N, HIDDEN);
      org.bytedeco.pytorch.Tensor rot = null, w = null, b, proj = null, projB = null;  // rot: R [hidden, r]
      org.bytedeco.pytorch.Tensor qt;  // the matrix z multiplies: R^T or P, [r, hidden]
      if (kind.orthogonal) {
        rot = Torch.param(r.rotationMatrix(), HIDDEN, RANK);
        qt = rot.t();
      } else {
        proj = Torch.param(values(r, "proj_layer.weight"), RANK, HIDDEN);
        qt = proj;
        if (addBias) projB = Torch.param(values(r, "proj_layer.bias"), RANK);
      }
      org.bytedeco.pytorch.Tensor z;
      if (kind.linearSource) {
        w = Torch.param(values(r, "learned_source.weight"), RANK, HIDDEN);
        b = Torch.param(values(r, "learned_source.bias"), RANK);
        org.bytedeco.pytorch.Tensor u = torch.matmul(ph, w.t()).add(b);
        z = act == null ? u : torch.relu(u);
      } else {
        b = Torch.param(values(r, "learned_source"), RANK);
        z = b.expand(new long[] {N, RANK});
      }
      if (kind.subtractsProjection) {
        org.bytedeco.pytorch.Tensor v = torch.matmul(ph, qt.t());
        if (projB != null) v = v.add(projB);
        z = z.sub(v);
      }
      org.bytedeco.pytorch.Tensor tout = ph.add(torch.matmul(z, qt));
      Torch.dot(tout, Torch.tensor(g, N, HIDDEN)).backward();
      String k = kind.className();
      Assert.close(k + " out", out.toFloatArray(), Torch.floats(tout), 1e-5, 1e-5);
      Assert.close(k + " dh", dh.toFloatArray(), Torch.floats(ph.grad()), 1e-5, 1e-5);
      if (w != null) Assert.close(k + " dW", grad(r, "learned_source.weight"), Torch.floats(w.grad()), 1e-5, 1e-5);
      Assert.close(k + " db", grad(r, kind.linearSource ? "learned_source.bias" : "learned_source"),
          Torch.floats(b.grad()), 1e-5, 1e-5);
      if (proj != null) Assert.close(k + " dP", grad(r, "proj_layer.weight"), Torch.floats(proj.grad()), 1e-5, 1e-5);
      if (projB != null) Assert.close(k + " dp", grad(r, "proj_layer.bias"), Torch.floats(projB.grad()), 1e-5, 1e-5);
      if (rot != null) {
        float[] expected = r.rotation().gradient(values(r, ReftIntervention.ROTATION), Torch.floats(rot.grad()));
        Assert.close(k + " dA", grad(r, ReftIntervention.ROTATION), expected, 1e-4, 1e-5);
      }
    }
  }

  private static Parameter param(ReftIntervention r, String suffix) {
    for (Parameter p : r.parameters()) if (p.name().equals("l." + suffix)) return p;
    throw new AssertionError("no " + suffix + " in " + r.parameters());
  }

  private static float[] values(ReftIntervention r, String suffix) {
    return param(r, suffix).value().toFloatArray();
  }

  private static float[] grad(ReftIntervention r, String suffix) {
    return param(r, suffix).grad().toFloatArray();
  }

  @Test
  void loreftMatchesPyreft() {
    matchesPyreft(ReftIntervention.Kind.LOREFT, null, false);
    matchesPyreft(ReftIntervention.Kind.LOREFT, Activation.RELU, false);
  }

  @Test
  void theOtherKindsMatchPyreft() {
    matchesPyreft(ReftIntervention.Kind.NOREFT, null, true);
    matchesPyreft(ReftIntervention.Kind.NOREFT, null, false);
    matchesPyreft(ReftIntervention.Kind.CONSREFT, null, false);
    matchesPyreft(ReftIntervention.Kind.LOBIREFT, null, false);
    matchesPyreft(ReftIntervention.Kind.DIREFT, Activation.RELU, false);
    matchesPyreft(ReftIntervention.Kind.NODIREFT, null, false);
  }

  @Test
  void namesAndShapesAreChecked() {
    assertEquals(ReftIntervention.Kind.LOREFT, ReftIntervention.Kind.parse("LoreftIntervention"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ReftIntervention.Kind.parse("LoReFT"));
    assertTrue(e.getMessage().contains("NodireftIntervention"), e.getMessage());
    try (ReftIntervention r = ReftIntervention.initialised("l.", ReftIntervention.Kind.LOREFT, HIDDEN, RANK, null, 0f,
        false, 1, DType.F32, Device.CPU)) {
      List<String> names = r.parameters().stream().map(Parameter::name).toList();
      assertEquals(List.of("l.learned_source.weight", "l.learned_source.bias", "l.rotate_layer.householder"), names);
      // a fresh rotation has orthonormal columns
      float[] rot = r.rotationMatrix();
      double dot01 = 0, norm0 = 0;
      for (int i = 0; i < HIDDEN; i++) {
        dot01 += rot[i * RANK] * rot[i * RANK + 1];
        norm0 += rot[i * RANK] * rot[i * RANK];
      }
      assertEquals(0, dot01, 1e-6);
      assertEquals(1, norm0, 1e-6);
    }
  }
}
