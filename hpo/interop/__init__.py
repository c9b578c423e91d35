"""Moving studies in and out of hpo: the JSON format (`hpo export json`, `hpo import json`),
Optuna studies both ways (`hpo export optuna`, `hpo import optuna`), warm starts from earlier
studies, and copying whole databases (`hpo db copy`). Everything here works on a database
directly (a `Database`), inside its transactions; the commands are in hpo/commands/."""
