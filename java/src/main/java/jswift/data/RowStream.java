package jswift.data;

/**
 * Rows read in order, once per iteration: what a streaming dataset ({@code --streaming true}) is. Each call to
 * {@link #iterator()} starts again from the first row (another epoch), reading the files afresh.
 *
 * <p>Bad rows met while iterating are skipped or thrown as the load's {@link BadRows} says.
 */
public interface RowStream extends Iterable<Row> {
  @Override
  CloseableIterator<Row> iterator();
}
