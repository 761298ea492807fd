using System.CommandLine;
using System.Reflection;
using PagLab.Cli;
using PagLab.Common;

// Thin CLI: every command group (Commands/*.cs) parses options and calls one library method.
OpenMpWait.UsePassiveWait(); // before libtorch loads libgomp, which reads it once
var root =
    new RootCommand("PagLab: perceptually-aligned gradients, off-manifold robustness, and the tools to measure them.");
root.Options.Add(CommonOptions.Verbose);
foreach (var type in Assembly.GetExecutingAssembly().GetTypes()
             .Where(t => typeof(ICommandGroup).IsAssignableFrom(t) && !t.IsAbstract && !t.IsInterface)
             .OrderBy(t => t.Name))
{
    ((ICommandGroup)Activator.CreateInstance(type)!).Register(root);
}
return CommandRunner.Run(root, args);
