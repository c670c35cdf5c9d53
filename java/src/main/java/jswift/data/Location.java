package jswift.data;

/**
 * Where a row comes from: the file as the user named it (or a bundled dataset's name) and the 1-based line on
 * which the row starts. Every error about a row starts with this, as {@code file:line}, so that an editor or a
 * terminal can jump to it.
 */
public record Location(String file, long line) {
  @Override
  public String toString() {
    return file + ":" + line;
  }
}
