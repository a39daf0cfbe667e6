namespace OnnxLm.Cli;

/// <summary>Where an effective option value came from, in increasing precedence.</summary>
public enum OptionSource : byte { Default, File, Env, Cli }
