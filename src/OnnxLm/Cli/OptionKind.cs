namespace OnnxLm.Cli;

/// <summary>How an option takes its value on each source.</summary>
internal enum OptionKind
{
    /// <summary><c>--flag VALUE</c>; a JSON string/number; an environment string.</summary>
    Value,
    /// <summary><c>--flag</c> alone (or <c>--flag=false</c>); a JSON boolean; 1/0/true/false/yes/no/on/off.</summary>
    Switch,
    /// <summary>Repeatable <c>--flag VALUE</c>; a JSON array (or one string); a comma-separated environment value.</summary>
    List,
}
