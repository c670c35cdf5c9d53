package jswift.train;

/**
 * Where a {@link SampleStream} stood right after handing out one optimizer step's batches: what a checkpoint saves
 * so that a resumed run continues with exactly the next sample. Taken when the step's batches are prepared (maybe
 * on the prefetch thread, ahead of the training), so a checkpoint saves the cursor of the step it follows, not the
 * stream's live position, which may already be one prepared step further.
 *
 * @param epoch epochs completed
 * @param position the row of the next sample not yet handed out ({@link SampleStream#position()})
 * @param chunk chunks of that row already handed out ({@link SampleStream#chunk()})
 * @param epochProgress fractional epochs, for logs
 * @param skippedTooLong rows skipped so far as longer than max_length
 */
record DataCursor(int epoch, int position, int chunk, double epochProgress, long skippedTooLong) {}
