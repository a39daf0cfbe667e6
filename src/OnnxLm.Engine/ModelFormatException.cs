namespace OnnxLm.Engine;

/// <summary>
/// A model folder file (tokenizer.json, genai_config.json, the ONNX graph) has a shape the engine does not support.
/// Thrown at load time so a server refuses the model with a message naming the file and the unsupported thing,
/// instead of failing later mid-request.
/// </summary>
public sealed class ModelFormatException(string message) : Exception(message);
