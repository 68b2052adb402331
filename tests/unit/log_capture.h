/* Test helper: capture log lines so tests can assert that an error message names the problem. */
#ifndef COSMOS_TEST_LOG_CAPTURE_H
#define COSMOS_TEST_LOG_CAPTURE_H

void log_capture_start(void);
void log_capture_stop(void);
/* All captured lines, newline-separated. */
const char *log_captured(void);

#endif
