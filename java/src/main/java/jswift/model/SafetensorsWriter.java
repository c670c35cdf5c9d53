package jswift.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes one {@code .safetensors} file exactly as {@code safetensors.torch.save_file} (safetensors 0.8) does, so
 * the same tensors and metadata give the same bytes: an 8-byte little-endian header length, the JSON header with
 * {@code __metadata__} first and then the tensors in data order, padded with spaces to a multiple of 8 bytes, then
 * the data. The data order is the Rust library's: by descending dtype (widest first, which keeps every tensor
 * aligned to its element size), then by name (bytewise UTF-8). The JSON is serde_json's compact form.
 *
 * <p>Tensors are written one at a time from their {@link TensorSource}s, so memory stays bounded by one chunk
 * whatever the file size, and the file appears under its name only when complete ({@link AtomicFile}).
 *
 * <p>One difference is unavoidable: safetensors keeps the metadata in a Rust HashMap, so with more than one
 * metadata key its key order is random from run to run. Here metadata keys keep the caller's map order.
 */
public final class SafetensorsWriter {
  /** What transformers and PEFT put in every file they save. */
  public static final Map<String, String> PT_METADATA = Map.of("format", "pt");

  private SafetensorsWriter() {}

  /** The tensors in file order and the padded JSON header that describes them. */
  record Layout(List<TensorSource> order, byte[] header, long dataBytes) {}

  /** Writes the file atomically; metadata may be null (no {@code __metadata__} key, as save_file without it). */
  public static void write(Path file, Collection<TensorSource> tensors, Map<String, String> metadata)
      throws IOException {
    Layout layout = layout(tensors, metadata);
    AtomicFile.write(file, ch -> writeTo(ch, layout, file));
  }

  private static void writeTo(FileChannel ch, Layout layout, Path file) throws IOException {
    ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(layout.header().length).flip();
    writeFully(ch, len);
    writeFully(ch, ByteBuffer.wrap(layout.header()));
    for (TensorSource t : layout.order()) {
      long start = ch.position();
      t.writeTo(ch);
      long written = ch.position() - start;
      // The header already promised this many bytes; any other count would shift every later tensor.
      if (written != t.byteSize())
        throw new IOException(file + ": tensor '" + t.name() + "' wrote " + written + " bytes, its header entry "
            + t.dtype() + Arrays.toString(t.shape()) + " says " + t.byteSize());
    }
  }

  static Layout layout(Collection<TensorSource> tensors, Map<String, String> metadata) {
    List<TensorSource> order = new ArrayList<>(tensors);
    Set<String> seen = new HashSet<>();
    for (TensorSource t : order) {
      if (t.name().equals("__metadata__")) throw new IllegalArgumentException("'__metadata__' cannot name a tensor");
      if (!seen.add(t.name())) throw new IllegalArgumentException("two tensors are named '" + t.name() + "'");
    }
    order.sort(Comparator.comparing(TensorSource::dtype, Comparator.reverseOrder())
        .thenComparing(TensorSource::name, SafetensorsWriter::compareUtf8));
    StringBuilder json = new StringBuilder("{");
    if (metadata != null) {
      json.append("\"__metadata__\":{");
      boolean first = true;
      for (Map.Entry<String, String> e : metadata.entrySet()) {
        if (!first) json.append(',');
        first = false;
        string(e.getKey(), json);
        json.append(':');
        string(e.getValue(), json);
      }
      json.append('}');
    }
    long offset = 0;
    for (TensorSource t : order) {
      if (json.length() > 1) json.append(',');
      string(t.name(), json);
      json.append(":{\"dtype\":\"").append(t.dtype().headerName()).append("\",\"shape\":[");
      long[] shape = t.shape();
      for (int i = 0; i < shape.length; i++) json.append(i == 0 ? "" : ",").append(shape[i]);
      long end = Math.addExact(offset, t.byteSize());
      json.append("],\"data_offsets\":[").append(offset).append(',').append(end).append("]}");
      offset = end;
    }
    json.append('}');
    byte[] raw = json.toString().getBytes(StandardCharsets.UTF_8);
    int padded = (raw.length + 7) / 8 * 8;  // spaces, so the data section starts 8-byte aligned
    byte[] header = Arrays.copyOf(raw, padded);
    Arrays.fill(header, raw.length, padded, (byte) ' ');
    return new Layout(List.copyOf(order), header, offset);
  }

  /** Rust orders Strings by their UTF-8 bytes, which differs from Java's UTF-16 order above U+FFFF. */
  static int compareUtf8(String a, String b) {
    return Arrays.compareUnsigned(a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8));
  }

  /** serde_json's string escaping: quote, backslash and control characters only; other text stays UTF-8. */
  private static void string(String s, StringBuilder sb) {
    jswift.template.PythonJson.string(s, false, sb);
  }

  private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) ch.write(b);
  }
}
