"""Pages for people: `/web` on every server plays its environment, and `envtorch view` browses
a file of trajectories. Plain HTML, CSS and JavaScript from `static/`, served by the app."""
