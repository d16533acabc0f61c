/* The keyword-spotting front end of edgenas in C99 (float32): 1 s of 16-bit PCM -> MFCCs.
 *
 * It computes what edgenas.tasks.audio.mfcc computes in training, step for step: frames without
 * padding, a periodic Hann window, a zero-padded real FFT, the power spectrum, triangular mel
 * filters, the natural log with a floor and an orthonormal DCT-II, of which the first
 * EDGENAS_FE_MFCC coefficients are kept. A model is only as good as the agreement between this
 * front end and the one it was trained on, so the window, the mel filterbank, the DCT matrix and
 * the FFT twiddles are the exporter's constant tables (frontend_tables.c), computed by the same
 * Python code that trained the model, not recomputed here.
 *
 * No allocation and no global state: the caller owns the work area (about 6 KB), so two
 * instances can run side by side. Only math.h (logf, rintf) is used beyond the headers below.
 */
#ifndef EDGENAS_FRONTEND_H_
#define EDGENAS_FRONTEND_H_

#include <stddef.h>
#include <stdint.h>

#include "frontend_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Scratch memory of one front end: the FFT buffer, the power spectrum and the log mel energies. */
typedef struct {
  float fft[EDGENAS_FE_FFT_POINTS];
  float power[EDGENAS_FE_FFT_POINTS / 2 + 1];
  float log_mel[EDGENAS_FE_MEL_BANDS];
} edgenas_fe_work;

/* MFCCs of one frame: EDGENAS_FE_WINDOW_SAMPLES samples in, EDGENAS_FE_MFCC coefficients out.
 * Streaming firmware calls it every EDGENAS_FE_HOP_SAMPLES samples. */
void edgenas_fe_frame(const int16_t *samples, float *mfcc, edgenas_fe_work *work);

/* MFCCs of a whole clip: EDGENAS_FE_CLIP_SAMPLES samples in, EDGENAS_FE_FEATURES floats out
 * (EDGENAS_FE_FRAMES rows of EDGENAS_FE_MFCC coefficients, row-major: the model's input layout). */
void edgenas_fe_clip(const int16_t *clip, float *features, edgenas_fe_work *work);

/* The model's int8 input from MFCCs, as in training and conversion: standardise each coefficient
 * ((x - mean[c]) / std[c], c = index % n_coeffs), then q = round(x / scale) + zero_point (ties to
 * even), saturated to [-128, 127]. */
void edgenas_fe_quantise(const float *features, size_t count, const float *mean, const float *std, size_t n_coeffs,
                         float scale, int32_t zero_point, int8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* EDGENAS_FRONTEND_H_ */
