package jswift.tensor;

import java.lang.reflect.Constructor;

/**
 * Tensors that claim to live on a CUDA device without owning any memory, so that the device checks of the
 * {@link Kernels} facade can be tested on machines with no GPU. They must never reach native code (their
 * address is 0) and are never freed; a facade method has to reject them before any native call.
 */
final class ElsewhereTensors {
  private ElsewhereTensors() {}

  static Tensor onCuda(DType dtype, long... shape) {
    try {
      Constructor<Storage> c = Storage.class.getDeclaredConstructor(Device.class, long.class, long.class);
      c.setAccessible(true);
      Storage storage = c.newInstance(Device.cuda(0), 0L, Tensor.bytesFor(dtype, shape));
      return Tensor.over(storage, dtype, shape);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("cannot build a placeholder CUDA tensor", e);
    }
  }
}
