package jswift.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * One {@code .safetensors} file, read lazily: the JSON header is parsed and validated on open, and each tensor's
 * bytes are memory-mapped only when asked for (each mapping covers one tensor, so files larger than 2 GB
 * work). A truncated file, an offset outside the data, or a byte count that disagrees with dtype x shape is
 * reported with the file and tensor name.
 *
 * <p>Format: 8-byte little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin,
 * end]}, "__metadata__": {...}}, then the data; offsets are relative to the end of the header.
 */
public final class SafetensorsFile implements AutoCloseable {
  /** Where one tensor lies in the file. */
  public record Entry(String name, String dtype, long[] shape, long begin, long end) {
    public long numel() {
      long n = 1;
      for (long d : shape) n *= d;
      return n;
    }
  }

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long MAX_HEADER = 100L << 20;

  private final Path path;
  private final FileChannel channel;
  private final long dataStart;
  private final Map<String, Entry> entries;
  private final Map<String, String> metadata;

  private SafetensorsFile(Path path, FileChannel channel, long dataStart, Map<String, Entry> entries,
      Map<String, String> metadata) {
    this.path = path;
    this.channel = channel;
    this.dataStart = dataStart;
    this.entries = entries;
    this.metadata = metadata;
  }

  public static SafetensorsFile open(Path path) throws IOException {
    FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
    try {
      long size = ch.size();
      if (size < 8) throw new IOException(path + ": not a safetensors file (" + size + " bytes, truncated?)");
      ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, lenBuf, 0);
      long headerLen = lenBuf.flip().getLong();
      if (headerLen <= 0 || headerLen > MAX_HEADER || 8 + headerLen > size)
        throw new IOException(path + ": invalid safetensors header length " + headerLen + " for a file of " + size
            + " bytes (truncated or not a safetensors file)");
      ByteBuffer header = ByteBuffer.allocate((int) headerLen);
      readFully(ch, header, 8);
      JsonNode root;
      try {
        root = JSON.readTree(header.array());
      } catch (IOException e) {
        throw new IOException(path + ": safetensors header is not valid JSON: " + e.getMessage(), e);
      }
      long dataStart = 8 + headerLen;
      long dataLen = size - dataStart;
      Map<String, Entry> entries = new LinkedHashMap<>();
      Map<String, String> metadata = new LinkedHashMap<>();
      for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> f = it.next();
        if (f.getKey().equals("__metadata__")) {
          f.getValue().fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
          continue;
        }
        entries.put(f.getKey(), parseEntry(path, f.getKey(), f.getValue(), dataLen));
      }
      return new SafetensorsFile(path, ch, dataStart, Collections.unmodifiableMap(entries),
          Collections.unmodifiableMap(metadata));
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  private static Entry parseEntry(Path path, String name, JsonNode n, long dataLen) throws IOException {
    JsonNode dt = n.get("dtype"), sh = n.get("shape"), off = n.get("data_offsets");
    if (dt == null || sh == null || off == null || !sh.isArray() || off.size() != 2)
      throw new IOException(path + ": tensor '" + name + "' lacks dtype/shape/data_offsets in the header");
    long[] shape = new long[sh.size()];
    for (int i = 0; i < shape.length; i++) shape[i] = sh.get(i).asLong();
    Entry e = new Entry(name, dt.asText(), shape, off.get(0).asLong(), off.get(1).asLong());
    int elem = elementSize(e.dtype());
    if (e.begin() < 0 || e.end() < e.begin() || e.end() > dataLen)
      throw new IOException(path + ": tensor '" + name + "' spans bytes [" + e.begin() + ", " + e.end()
          + ") but the data section has " + dataLen + " bytes (the file is truncated)");
    if (elem > 0 && e.end() - e.begin() != e.numel() * elem)
      throw new IOException(path + ": tensor '" + name + "' has " + (e.end() - e.begin()) + " bytes, but "
          + e.dtype() + java.util.Arrays.toString(shape) + " needs " + e.numel() * elem);
    return e;
  }

  /** Bytes per element of a safetensors dtype name; 0 for types jswift does not read. */
  static int elementSize(String dtype) {
    switch (dtype) {
      case "F64": case "I64": case "U64": return 8;
      case "F32": case "I32": case "U32": return 4;
      case "F16": case "BF16": case "I16": case "U16": return 2;
      case "I8": case "U8": case "BOOL": case "F8_E4M3": case "F8_E5M2": return 1;
      default: return 0;
    }
  }

  private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
    while (buf.hasRemaining()) {
      int n = ch.read(buf, pos);
      if (n < 0) throw new IOException("unexpected end of file");
      pos += n;
    }
  }

  public Path path() {
    return path;
  }

  public Set<String> names() {
    return entries.keySet();
  }

  public boolean contains(String name) {
    return entries.containsKey(name);
  }

  public Map<String, String> metadata() {
    return metadata;
  }

  public Entry entry(String name) {
    Entry e = entries.get(name);
    if (e == null) throw new IllegalArgumentException(path + ": no tensor named '" + name + "'");
    return e;
  }

  /** The tensor's raw little-endian bytes, memory-mapped read-only. */
  public ByteBuffer bytes(String name) throws IOException {
    Entry e = entry(name);
    long len = e.end() - e.begin();
    if (len > Integer.MAX_VALUE) throw new IOException(path + ": tensor '" + name + "' is larger than 2 GB");
    return channel.map(FileChannel.MapMode.READ_ONLY, dataStart + e.begin(), len).order(ByteOrder.LITTLE_ENDIAN);
  }

  /**
   * Copies a tensor's stored bytes to a channel (in the kernel where the OS allows, without passing through the
   * Java heap and with no 2 GB limit): how a checkpoint writer re-saves a tensor unchanged.
   */
  public void transferTo(String name, WritableByteChannel out) throws IOException {
    Entry e = entry(name);
    long pos = dataStart + e.begin(), end = dataStart + e.end();
    while (pos < end) {
      long n = channel.transferTo(pos, end - pos, out);
      if (n <= 0) {
        // transferTo may move nothing (e.g. the file shrank since it was opened): a plain read tells which.
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min(end - pos, 1 << 20));
        n = channel.read(buf, pos);
        if (n < 0)
          throw new IOException(path + ": tensor '" + name + "' ends past the end of the file (truncated since it"
              + " was opened?)");
        buf.flip();
        while (buf.hasRemaining()) out.write(buf);
      }
      pos += n;
    }
  }

  /** The values as fp32, converted from F32 / BF16 / F16 / F64 / F8_E4M3. */
  public float[] floats(String name) throws IOException {
    Entry e = entry(name);
    ByteBuffer b = bytes(name);
    float[] out = new float[Math.toIntExact(e.numel())];
    switch (e.dtype()) {
      case "F32": b.asFloatBuffer().get(out); break;
      case "F64": for (int i = 0; i < out.length; i++) out[i] = (float) b.getDouble(i * 8); break;
      case "BF16": for (int i = 0; i < out.length; i++) out[i] = Float.intBitsToFloat((b.getShort(i * 2) & 0xffff) << 16); break;
      case "F16": for (int i = 0; i < out.length; i++) out[i] = halfToFloat(b.getShort(i * 2)); break;
      case "F8_E4M3": for (int i = 0; i < out.length; i++) out[i] = Float8E4M3.decode(b.get(i)); break;
      default: throw new IOException(path + ": tensor '" + name + "' has dtype " + e.dtype() + ", expected a float type");
    }
    return out;
  }

  /** The values of an integer tensor (I64 / I32) as longs. */
  public long[] longs(String name) throws IOException {
    Entry e = entry(name);
    ByteBuffer b = bytes(name);
    long[] out = new long[Math.toIntExact(e.numel())];
    switch (e.dtype()) {
      case "I64": b.asLongBuffer().get(out); break;
      case "I32": for (int i = 0; i < out.length; i++) out[i] = b.getInt(i * 4); break;
      default: throw new IOException(path + ": tensor '" + name + "' has dtype " + e.dtype() + ", expected I64 or I32");
    }
    return out;
  }

  /** The jswift dtype of a stored tensor, or null for types jswift does not load (F64, BOOL, F8...). */
  public DType dtype(String name) {
    switch (entry(name).dtype()) {
      case "F32": return DType.F32;
      case "BF16": return DType.BF16;
      case "F16": return DType.F16;
      case "I32": return DType.I32;
      case "I64": return DType.I64;
      case "U8": return DType.U8;
      case "I8": return DType.I8;
      default: return null;
    }
  }

  /**
   * A new tensor on a device with the stored values (the caller owns it): the mapped bytes go straight to the
   * device in the stored dtype and, for floats, are cast there to {@code dtype} (f32 / bf16 / f16 on disk, any
   * float dtype in memory). Integer tensors keep their stored dtype ({@code dtype} must match).
   */
  public Tensor load(String name, DType dtype, Device device) throws IOException {
    Entry e = entry(name);
    DType stored = dtype(name);
    if (stored == null)
      throw new IOException(path + ": tensor '" + name + "' has dtype " + e.dtype() + ", which jswift does not load");
    if (stored.isFloatingPoint() != dtype.isFloatingPoint())
      throw new IOException(path + ": tensor '" + name + "' is " + e.dtype() + ", cannot load it as " + dtype.torchName());
    Tensor raw = Tensor.allocate(stored, device, e.shape());
    try {
      readInto(e, raw);
      if (stored == dtype) return raw;
      if (!stored.isFloatingPoint())
        throw new IOException(path + ": tensor '" + name + "' is " + e.dtype() + ", not " + dtype.torchName());
      return raw.to(dtype);
    } finally {
      if (stored != dtype) raw.close();
    }
  }

  /** The read buffer of {@link #readInto}, made at the first load. */
  private ByteBuffer chunk;
  private static final int CHUNK_BYTES = 16 << 20;

  /**
   * Streams a tensor's bytes into {@code t} through one small direct buffer. Not a memory map: mapped pages stay
   * in the process's resident set until the garbage collector unmaps them, so loading a 2 GB model by mapping each
   * tensor held the whole file resident on top of the copies (a 4 GB peak for a 2 GB model).
   */
  private synchronized void readInto(Entry e, Tensor t) throws IOException {
    if (chunk == null) chunk = ByteBuffer.allocateDirect(CHUNK_BYTES);
    long len = e.end() - e.begin(), pos = dataStart + e.begin();
    for (long done = 0; done < len; ) {
      chunk.clear();
      chunk.limit((int) Math.min(CHUNK_BYTES, len - done));
      while (chunk.hasRemaining()) {
        int n = channel.read(chunk, pos + done + chunk.position());
        if (n < 0)
          throw new IOException(path + ": tensor '" + e.name() + "' ends past the end of the file (truncated since it"
              + " was opened?)");
      }
      chunk.flip();
      t.copyFrom(chunk, done);
      done += chunk.limit();
    }
  }

  static float halfToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16, exp = (bits >> 10) & 0x1f, mant = bits & 0x3ff;
    if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    if (exp == 0) {
      float v = mant * 5.9604644775390625e-08f;
      return sign != 0 ? -v : v;
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
