/* The front-end check: MFCCs of every clip in clips.bin (int16 PCM, EDGENAS_FE_CLIP_SAMPLES per
 * clip) into features.bin (per clip: the float32 MFCCs, then the model's int8 input), and, when
 * expected.bin (the Python features, float32) is there, the largest difference on the console.
 * The same file runs on the host (io_host.c) and on the Cortex-M7 in QEMU (io_semihost.c). */
#include "check_io.h"
#include "frontend.h"
#include "model_settings.h"

static int16_t clip[EDGENAS_FE_CLIP_SAMPLES];
static float features[EDGENAS_FE_FEATURES], expected[EDGENAS_FE_FEATURES];
static int8_t quantised[EDGENAS_FE_FEATURES];
static edgenas_fe_work work;

/* "label 1.234e-05": scientific notation without printf (no C library on the board). */
static void print_number(const char *label, float value) {
  char text[64];
  int n = 0, exponent = 0;
  while (*label) text[n++] = *label++;
  text[n++] = ' ';
  if (value < 0.0f) {
    text[n++] = '-';
    value = -value;
  }
  if (value > 1e30f) value = 1e30f; /* an infinite difference prints as 1e+30 */
  if (value > 0.0f) {
    while (value >= 10.0f) value /= 10.0f, ++exponent;
    while (value < 1.0f) value *= 10.0f, --exponent;
  }
  unsigned digits = (unsigned)(value * 1000.0f + 0.5f);
  if (digits >= 10000u) digits /= 10u, ++exponent;
  text[n++] = (char)('0' + digits / 1000u);
  text[n++] = '.';
  text[n++] = (char)('0' + digits / 100u % 10u);
  text[n++] = (char)('0' + digits / 10u % 10u);
  text[n++] = (char)('0' + digits % 10u);
  text[n++] = 'e';
  text[n++] = exponent < 0 ? '-' : '+';
  if (exponent < 0) exponent = -exponent;
  text[n++] = (char)('0' + exponent / 10);
  text[n++] = (char)('0' + exponent % 10);
  text[n] = '\0';
  check_print(text);
}

int main(void) {
  long in = check_open("clips.bin", 0), out, reference;
  long clips, c;
  float worst = 0.0f;
  if (in < 0) {
    check_print("frontend_check: cannot open clips.bin");
    return 1;
  }
  clips = check_length(in) / (long)sizeof clip;
  out = check_open("features.bin", 1);
  reference = check_open("expected.bin", 0);
  if (out < 0 || clips <= 0) {
    check_print("frontend_check: no clips in clips.bin, or features.bin cannot be written");
    return 1;
  }
  for (c = 0; c < clips; ++c) {
    if (check_read(in, clip, sizeof clip) != 0) return 1;
    edgenas_fe_clip(clip, features, &work);
    edgenas_fe_quantise(features, EDGENAS_FE_FEATURES, edgenas_feature_mean, edgenas_feature_std, EDGENAS_FE_MFCC,
                        EDGENAS_INPUT_SCALE, EDGENAS_INPUT_ZERO_POINT, quantised);
    if (check_write(out, features, sizeof features) != 0 || check_write(out, quantised, sizeof quantised) != 0) return 1;
    if (reference >= 0) {
      if (check_read(reference, expected, sizeof expected) != 0) return 1;
      for (unsigned i = 0; i < EDGENAS_FE_FEATURES; ++i) {
        float d = features[i] - expected[i];
        d = d < 0.0f ? -d : d;
        worst = d > worst ? d : worst;
      }
    }
  }
  check_close(in);
  check_close(out);
  print_number("clips", (float)clips);
  if (reference >= 0) {
    check_close(reference);
    print_number("max |C - Python| MFCC difference", worst);
  }
  return 0;
}
