namespace OnnxLm.Cli;

/// <summary>A value an option's parser refused. <see cref="Exception.Message"/> is the requirement ("must be an integer
/// between 1 and 256"); the caller names the key and the source around it.</summary>
internal sealed class OptionValueException(string requirement) : Exception(requirement);
