// Classify one clip with the exported model: the MFCC front end, the model's int8 input, TFLite
// Micro, the label. The clip is example_clip.c (int16 PCM, 1 s); firmware feeds its microphone
// buffer instead. Printing goes through MicroPrintf, which each TFLite Micro target routes to its
// console (stdout on a host, a UART or semihosting on a board).
#include <cstdint>

#include "example_clip.h"
#include "frontend.h"
#include "labels.h"
#include "model_data.h"
#include "model_settings.h"
#include "op_resolver.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace {
// kTensorArenaSize was measured on the host; CMSIS-NN scratch buffers and 32-bit records can need
// more on the device, hence the margin.
constexpr std::size_t kArenaBytes = kTensorArenaSize + kTensorArenaSize / 4 + 1024;
alignas(16) std::uint8_t tensor_arena[kArenaBytes];
float features[EDGENAS_FE_FEATURES];
edgenas_fe_work work;
}  // namespace

int main() {
  const tflite::Model* model = tflite::GetModel(g_model);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    MicroPrintf("model schema %d, this TFLite Micro reads %d", static_cast<int>(model->version()), TFLITE_SCHEMA_VERSION);
    return 1;
  }
  EdgenasOpResolver resolver;
  if (EdgenasRegisterOps(resolver) != kTfLiteOk) {
    MicroPrintf("cannot register the model's operators");
    return 1;
  }
  tflite::MicroInterpreter interpreter(model, resolver, tensor_arena, kArenaBytes);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    MicroPrintf("the tensor arena (%d B) is too small", static_cast<int>(kArenaBytes));
    return 1;
  }
  TfLiteTensor* input = interpreter.input(0);
  TfLiteTensor* output = interpreter.output(0);
  if (input->bytes != EDGENAS_FE_FEATURES || output->bytes != EDGENAS_NUM_LABELS) {
    MicroPrintf("the model's input/output (%d/%d B) differ from the front end's %d features and %d labels",
                static_cast<int>(input->bytes), static_cast<int>(output->bytes), EDGENAS_FE_FEATURES,
                EDGENAS_NUM_LABELS);
    return 1;
  }

  edgenas_fe_clip(g_example_clip, features, &work);
  edgenas_fe_quantise(features, EDGENAS_FE_FEATURES, edgenas_feature_mean, edgenas_feature_std, EDGENAS_FE_MFCC,
                      EDGENAS_INPUT_SCALE, EDGENAS_INPUT_ZERO_POINT, input->data.int8);
  if (interpreter.Invoke() != kTfLiteOk) {
    MicroPrintf("Invoke failed");
    return 1;
  }

  int best = 0;
  for (int i = 1; i < EDGENAS_NUM_LABELS; ++i) {
    if (output->data.int8[i] > output->data.int8[best]) best = i;
  }
  // The int8 output is a logit: (q - zero_point) * scale. Printed in thousandths (MicroPrintf has no %f everywhere).
  int logit_milli = static_cast<int>(1000.0f * EDGENAS_OUTPUT_SCALE * (output->data.int8[best] - EDGENAS_OUTPUT_ZERO_POINT));
  MicroPrintf("label: %s (logit %d/1000; the example clip is '%s')", edgenas_labels[best], logit_milli,
              kExampleClipLabel);
  return 0;
}
