package jswift.nn;

/**
 * Frozen tensors that every layer of one adapter borrows (VeRA's projections, FourierFT's bases): the model owns
 * them, one object per adapter, and frees them with the model or when the adapter is replaced.
 */
public interface SharedAdapterTensors extends AutoCloseable {
  @Override
  void close();
}
