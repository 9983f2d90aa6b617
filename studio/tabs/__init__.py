"""The studio's tabs, one module each: `build(source) -> handles` builds the tab's components and its handlers;
studio.app assembles them and wires the links between tabs."""
