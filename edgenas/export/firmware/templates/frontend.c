/* The MFCC front end (see frontend.h for what it computes and why the tables are generated). */
#include "frontend.h"

#include <math.h>

/* Constant tables written by the exporter (frontend_tables.c). */
extern const float edgenas_fe_window[EDGENAS_FE_WINDOW_SAMPLES];
extern const float edgenas_fe_cos[EDGENAS_FE_FFT_POINTS / 2];
extern const float edgenas_fe_sin[EDGENAS_FE_FFT_POINTS / 2];
extern const uint16_t edgenas_fe_mel_first_bin[EDGENAS_FE_MEL_BANDS];
extern const uint16_t edgenas_fe_mel_bins[EDGENAS_FE_MEL_BANDS];
extern const uint16_t edgenas_fe_mel_offset[EDGENAS_FE_MEL_BANDS];
extern const float edgenas_fe_mel_weights[];
extern const float edgenas_fe_dct[EDGENAS_FE_MFCC * EDGENAS_FE_MEL_BANDS];

#define HALF (EDGENAS_FE_FFT_POINTS / 2)

/* In-place radix-2 FFT of HALF complex values stored as interleaved (re, im) pairs. The twiddle
 * exp(-2 pi i k / HALF) is entry 2k of the tables, which hold exp(-2 pi i j / FFT_POINTS). */
static void fft_complex_half(float *z) {
  unsigned i, j = 0;
  for (i = 0; i < HALF - 1; ++i) { /* bit-reversal permutation */
    unsigned bit;
    if (i < j) {
      float re = z[2 * i], im = z[2 * i + 1];
      z[2 * i] = z[2 * j];
      z[2 * i + 1] = z[2 * j + 1];
      z[2 * j] = re;
      z[2 * j + 1] = im;
    }
    for (bit = HALF >> 1; j & bit; bit >>= 1) j ^= bit;
    j |= bit;
  }
  for (unsigned size = 2; size <= HALF; size <<= 1) {
    unsigned half_size = size >> 1, step = EDGENAS_FE_FFT_POINTS / size;
    for (unsigned start = 0; start < HALF; start += size) {
      for (unsigned k = 0; k < half_size; ++k) {
        float wr = edgenas_fe_cos[k * step], wi = -edgenas_fe_sin[k * step];
        float *a = z + 2 * (start + k), *b = z + 2 * (start + k + half_size);
        float tr = b[0] * wr - b[1] * wi, ti = b[0] * wi + b[1] * wr;
        b[0] = a[0] - tr;
        b[1] = a[1] - ti;
        a[0] += tr;
        a[1] += ti;
      }
    }
  }
}

/* |X[k]|^2, k = 0 .. FFT_POINTS / 2, of the real signal in work->fft: a half-size complex FFT of
 * the even/odd samples, then the split into the spectrum of the real signal. */
static void power_spectrum(edgenas_fe_work *work) {
  float *z = work->fft;
  fft_complex_half(z);
  for (unsigned k = 0; k <= HALF; ++k) {
    unsigned a = k % HALF, b = (HALF - k) % HALF;
    float ar = z[2 * a], ai = z[2 * a + 1], br = z[2 * b], bi = -z[2 * b + 1]; /* Z[k], conj(Z[N/2-k]) */
    float er = 0.5f * (ar + br), ei = 0.5f * (ai + bi);                     /* even part */
    float orr = 0.5f * (ai - bi), oi = -0.5f * (ar - br);                    /* odd part: (Z - conj) / 2i */
    float wr = k < HALF ? edgenas_fe_cos[k] : -1.0f, wi = k < HALF ? -edgenas_fe_sin[k] : 0.0f;
    float xr = er + (orr * wr - oi * wi), xi = ei + (orr * wi + oi * wr);
    work->power[k] = xr * xr + xi * xi;
  }
}

void edgenas_fe_frame(const int16_t *samples, float *mfcc, edgenas_fe_work *work) {
  unsigned n, band, c;
  for (n = 0; n < EDGENAS_FE_WINDOW_SAMPLES; ++n) {
    float x = (float)samples[n] / 32768.0f; /* int16 PCM as float in [-1, 1), as training reads WAV */
    work->fft[n] = x * edgenas_fe_window[n];
  }
  for (; n < EDGENAS_FE_FFT_POINTS; ++n) work->fft[n] = 0.0f;
  power_spectrum(work);
  for (band = 0; band < EDGENAS_FE_MEL_BANDS; ++band) {
    const float *w = edgenas_fe_mel_weights + edgenas_fe_mel_offset[band];
    const float *p = work->power + edgenas_fe_mel_first_bin[band];
    float energy = 0.0f;
    for (n = 0; n < edgenas_fe_mel_bins[band]; ++n) energy += p[n] * w[n];
    work->log_mel[band] = logf(energy > EDGENAS_FE_LOG_FLOOR ? energy : EDGENAS_FE_LOG_FLOOR);
  }
  for (c = 0; c < EDGENAS_FE_MFCC; ++c) {
    const float *row = edgenas_fe_dct + c * EDGENAS_FE_MEL_BANDS;
    float sum = 0.0f;
    for (band = 0; band < EDGENAS_FE_MEL_BANDS; ++band) sum += row[band] * work->log_mel[band];
    mfcc[c] = sum;
  }
}

void edgenas_fe_clip(const int16_t *clip, float *features, edgenas_fe_work *work) {
  for (unsigned frame = 0; frame < EDGENAS_FE_FRAMES; ++frame) {
    edgenas_fe_frame(clip + frame * EDGENAS_FE_HOP_SAMPLES, features + frame * EDGENAS_FE_MFCC, work);
  }
}

void edgenas_fe_quantise(const float *features, size_t count, const float *mean, const float *std, size_t n_coeffs,
                         float scale, int32_t zero_point, int8_t *out) {
  for (size_t i = 0; i < count; ++i) {
    size_t c = i % n_coeffs;
    float x = (features[i] - mean[c]) / std[c];
    float q = rintf(x / scale) + (float)zero_point;
    out[i] = (int8_t)(q < -128.0f ? -128.0f : (q > 127.0f ? 127.0f : q));
  }
}
