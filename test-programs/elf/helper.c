/* Calls helper 5 (the conformance suite's identity helper) and adds 1 to its result. */
static long (*const identity)(long) = (void *)5;

long main(void) {
  return identity(0x1234) + 1;
}
